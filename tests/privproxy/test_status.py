"""Status endpoints through the real app: /v1/verification, /readyz, /healthz, /health, GET /."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from attestation.errors import Code, HardwareError
from privproxy import __version__
from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.ops.status_page import _CSS, CONTENT_SECURITY_POLICY, STYLE_HASH
from privproxy.server.app import create_app
from tests.privproxy.lifecycle_fakes import (
    START,
    ClientFactory,
    World,
    key_for,
    make_enclave,
    settings_for,
    settle,
    shorten_request_wait,
    started,
)


@pytest.fixture(autouse=True)
def _short_request_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    shorten_request_wait(monkeypatch)


async def test_verification_document_shows_what_was_verified(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    world = World(tmp_path)
    client = await started(world, aiohttp_client)
    resp = await client.get("/v1/verification")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    doc = await resp.json()
    v = make_enclave()
    assert doc["state"] == "verified"
    assert doc["verified"] is True
    enclave = doc["enclave"]
    assert enclave["domain"] == "inference.tinfoil.sh"
    assert enclave["url"] == "https://inference.tinfoil.sh"
    assert enclave["platform"] == "sev-snp"
    assert enclave["repository"] == "tinfoilsh/confidential-model-router"
    assert enclave["release_digest"] == v.release_digest
    assert enclave["code_measurement"] == {
        "type": "snp-tdx-multiplatform/v1",
        "registers": ["aa" * 48],
        "fingerprint": "aa" * 48,
    }
    assert enclave["hardware_measurement"]["fingerprint"] == "aa" * 48
    assert enclave["hpke_public_key"] == key_for("k1").hex()
    assert enclave["hpke_key_fingerprint"] == v.hpke_key_fingerprint
    assert enclave["tls_key_fingerprint"] == v.tls_key_fingerprint
    assert enclave["tcb"] == {"bootloader": 7, "tee": 0, "snp": 14, "microcode": 72}
    assert doc["verified_at"] == "2026-11-22T00:00:00Z"
    assert doc["expires_at"] == "2026-11-23T00:00:00Z"  # + 24 h default max age
    assert doc["verifier"] == {"name": "privproxy", "version": __version__}
    # both hardware verifiers are named with their versions (dcap-qvl: second TDX verdict)
    versions = {v["name"]: v["version"] for v in doc["verifiers"]}
    assert set(versions) == {"privproxy-attestation", "dcap-qvl"} and all(versions.values())
    assert enclave["verdicts"] == list(v.verifiers)
    assert [s["step"] for s in doc["steps"]] == [
        "fetch",
        "parse",
        "hardware",
        "provenance",
        "measurement",
        "key_binding",
    ]
    assert {s["status"] for s in doc["steps"]} == {"passed"}
    next_check = dt.datetime.fromisoformat(doc["next_check_at"])
    assert START + dt.timedelta(seconds=3240) <= next_check <= START + dt.timedelta(seconds=3960)
    assert doc["error"] is None


async def test_readiness_follows_the_state_machine(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    world = World(tmp_path)
    world.verifier.gate = asyncio.Event()
    client = await started(world, aiohttp_client)
    # Listening at once, before any verification finished.
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["state"] == "unverified"
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert health["attestation"] is False
    world.verifier.gate.set()
    await settle()
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {
        "ready": True,
        "state": "verified",
        "attestation_format": "v2",
        "freshness_expires_at": None,
    }
    health = await (await client.get("/health")).json()
    assert health["attestation"] is True
    assert health["state"] == "verified"
    assert health["hpke_key_fingerprint"] == make_enclave().hpke_key_fingerprint
    world.verifier.gate = None
    world.verifier.fail = HardwareError(Code.VCEK_CHAIN_INVALID, "chain broken")
    await world.clock.advance_to_next()
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["state"] == "failed"
    assert "step 'hardware' (VCEK_CHAIN_INVALID)" in body["reason"]
    assert (await client.get("/healthz")).status == 200
    doc = await (await client.get("/v1/verification")).json()
    assert doc["verified"] is False
    assert doc["enclave"] is None
    assert doc["error"]["step"] == "hardware"
    assert doc["error"]["code"] == "VCEK_CHAIN_INVALID"
    assert doc["steps"][-1] == {
        "step": "hardware",
        "status": "failed",
        "detail": "VCEK_CHAIN_INVALID: chain broken",
    }
    html = await (await client.get("/", headers={"Accept": "text/html"})).text()
    assert 'data-state="failed">NOT VERIFIED: attestation failed<' in html
    assert 'id="no-enclave"' in html
    assert "Step <b>hardware</b> (VCEK_CHAIN_INVALID): chain broken" in html
    assert make_enclave().hpke_key_fingerprint not in html  # the dropped key is not shown


async def test_chat_is_refused_with_503_naming_the_step(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    world = World(tmp_path, api_key="sk-test")
    world.verifier.fail = HardwareError(Code.GUEST_POLICY_DEBUG_SET, "debug bit set")
    client = await started(world, aiohttp_client)
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": "private/kimi-k3", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert resp.status == 503
    err = (await resp.json())["error"]
    assert err["type"] == "attestation_unavailable"
    assert "step 'hardware' (GUEST_POLICY_DEBUG_SET)" in err["message"]


async def test_root_keeps_node_json_and_serves_html_to_browsers(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    world = World(tmp_path)
    client = await started(world, aiohttp_client)
    resp = await client.get("/", headers={"Accept": "application/json"})
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["attestation"] is True
    resp = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert f"'sha256-{STYLE_HASH}'" in CONTENT_SECURITY_POLICY
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    html = await resp.text()
    assert f"<style>{_CSS}</style>" in html  # the hashed stylesheet, byte for byte
    assert 'data-state="verified">VERIFIED<' in html
    v = make_enclave()
    for fact in (v.domain, v.repository, v.release_digest, v.hpke_key_fingerprint, "aa" * 48):
        assert fact in html
    assert "SIMULATED" not in html
    assert "<script" not in html
    assert "http://" not in html.replace(f"http://{client.host}:{client.port}", "")
    assert f"http://{client.host}:{client.port}/v1" in html  # the OpenAI snippet's base URL


async def test_page_escapes_values_and_flags_simulation_and_changes(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    world = World(tmp_path, simulated=True)
    hostile = "<img src=x onerror=alert(1)>.example"
    world.verifier.enclave = dataclasses.replace(make_enclave(), domain=hostile)
    client = await started(world, aiohttp_client)
    world.verifier.enclave = dataclasses.replace(
        make_enclave(measurement="bb" * 48), domain=hostile
    )
    await world.clock.advance_to_next()
    html = await (await client.get("/", headers={"Accept": "text/html"})).text()
    assert hostile not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.example" in html
    assert 'id="simulated">SIMULATED ENCLAVE' in html
    assert 'id="measurement-change"' in html
    assert "aa" * 48 in html
    assert "bb" * 48 in html


async def test_unsafe_provider_is_reported_as_unverified(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    settings = settings_for(tmp_path, unsafe_hpke_key=key_for("static"))
    app = create_app(settings, provider=UnsafeStaticProvider.from_settings(settings))
    client = await aiohttp_client(app)
    doc = await (await client.get("/v1/verification")).json()
    assert doc["state"] == "unsafe"
    assert doc["verified"] is False
    assert doc["unsafe"] is True
    resp = await client.get("/readyz")
    assert resp.status == 503  # nothing was verified: never "ready" for real traffic
    assert (await resp.json())["state"] == "unsafe"
    html = await (await client.get("/", headers={"Accept": "text/html"})).text()
    assert "NOT VERIFIED: attestation disabled" in html
