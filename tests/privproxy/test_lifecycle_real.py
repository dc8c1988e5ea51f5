"""Attestation lifecycle end to end through the REAL verifier and the simulated enclave.

The proxy app (`create_app`) runs with `AttestedProvider` around the production
`attestation.Attestor` (production policy; trust = the simulator's roots, passed
explicitly) on a manual clock, in front of `privproxy.simulator` serving real bundles,
real EHBP and 422 key-config answers. Nothing here is a verifier double.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from attestation.attestor import Attestor
from attestation.fetch import AiohttpFetcher
from attestation.policy import Policy
from privproxy.enclave.attested import AttestedProvider
from privproxy.enclave.audit import AuditLog
from privproxy.enclave.status import AttestationState
from privproxy.server.app import create_app
from privproxy.server.app_keys import PROVIDER_KEY
from privproxy.server.config import Settings
from privproxy.simulator.server import SimulatedGateway, running_gateway
from privproxy.simulator.world import SimulatedWorld, shared_world, spki_sha256
from tests.privproxy.lifecycle_fakes import ManualClock, settle

Client = TestClient[web.Request, web.Application]


@dataclass
class Rig:
    clock: ManualClock
    gateway: SimulatedGateway
    provider: AttestedProvider
    client: Client
    model: str

    async def chat(self, *, stream: bool = False) -> tuple[int, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": "hi"}],
        }
        if stream:
            body["stream"] = True
        resp = await self.client.post("/v1/chat/completions", json=body)
        text = await resp.text()
        return resp.status, text

    async def next_check(self) -> None:
        """Move the clock to the provider's next scheduled check and wait for its outcome."""
        await settle()  # a just-rescheduled loop must register its new sleep first
        delay = self.clock.next_deadline()
        assert delay is not None
        before = self.provider.stats.attempts
        await self.clock.advance(delay)
        await wait_for(lambda: self.provider.stats.attempts > before and self.idle())

    def idle(self) -> bool:
        return not self.provider.status().in_progress and self.clock.next_deadline() is not None


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll in real time: the real verifier runs in a worker thread."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def rig(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[Rig]:
    world = shared_world()
    gateway = SimulatedGateway(world)
    clock = ManualClock(start=dt.datetime.now(dt.UTC))
    async with running_gateway(gateway) as base_url, AiohttpFetcher() as fetcher:
        settings = Settings(
            api_base=base_url,
            api_key=SecretStr("sk-simulated-0123456789"),
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
            reattest_interval=3600,
            attestation_max_age=7200,
        )
        attestor = Attestor(
            fetcher, policy=Policy.production(), trust=world.trust(), clock=clock.now
        )
        provider = AttestedProvider(settings, attestor=attestor, clock=clock, rng=random.Random(7))
        client: Client = await aiohttp_client(create_app(settings, provider=provider))
        r = Rig(clock, gateway, provider, client, f"private/{gateway.models[0]}")
        await wait_for(r.idle)
        assert provider.state() is AttestationState.VERIFIED
        yield r


async def test_expiry_makes_chat_503_and_reverification_restores_it(rig: Rig) -> None:
    assert (await rig.chat())[0] == 200
    rig.gateway.faults.attestation_status = 503  # the bundle endpoint goes down
    await rig.next_check()
    assert rig.provider.state() is AttestationState.VERIFIED  # fetch failed, key still fresh
    assert (await rig.chat())[0] == 200
    for _ in range(60):
        if rig.provider.state() is AttestationState.EXPIRED:
            break
        await rig.next_check()
    assert rig.provider.state() is AttestationState.EXPIRED
    sent = rig.gateway.stats.chat_requests
    status, text = await rig.chat()
    assert status == 503
    assert "attestation_unavailable" in text
    assert "expired" in text
    assert "step 'fetch'" in text
    assert rig.gateway.stats.chat_requests == sent  # nothing was sealed to the stale key
    assert (await rig.client.get("/readyz")).status == 503
    rig.gateway.faults.attestation_status = None
    await rig.next_check()
    assert rig.provider.state() is AttestationState.VERIFIED
    assert (await rig.client.get("/readyz")).status == 200
    assert (await rig.chat())[0] == 200


async def test_key_rotation_mid_traffic_loses_no_request(rig: Rig) -> None:
    # Sequential traffic, the enclave rotating after every second request.
    rig.gateway.faults.rotate_every = 2
    statuses = [(await rig.chat())[0] for _ in range(8)]
    assert statuses == [200] * 8
    # Concurrent waves (half of them streams); a rotation lands inside waves 2, 3 and 4.
    rig.gateway.faults.rotate_every = 10
    rig.gateway.stats.opened = 0
    results: list[tuple[int, Any]] = []
    for _ in range(4):
        results += await asyncio.gather(*(rig.chat(stream=i % 2 == 0) for i in range(8)))
    assert [status for status, _ in results] == [200] * 32
    assert all("[DONE]" in text for _, text in results[::2])
    rotations = rig.gateway.stats.rotations
    assert rotations >= 6
    assert rig.gateway.stats.key_mismatches >= rotations - 1
    # Every adopted new key came from a rotation; at most the last one is still unseen.
    assert rotations - 1 <= rig.provider.stats.key_rotations <= rotations
    key_config = rig.provider.stats.verifications[("key_config", "success")]
    assert rotations - 1 <= key_config <= rotations  # one shared re-verification per rotation


async def test_stream_in_flight_finishes_on_the_key_it_started_with(rig: Rig) -> None:
    rig.gateway.faults.stream_delay = 0.05
    old = await rig.provider.current()
    streaming = asyncio.ensure_future(rig.chat(stream=True))
    await wait_for(lambda: rig.gateway.stats.opened >= 1)
    rig.gateway.rotate()
    new = await rig.provider.refresh(old)
    assert new.hpke_public_key != old.hpke_public_key
    status, text = await streaming
    assert status == 200
    assert text.rstrip().endswith("data: [DONE]")
    rig.gateway.faults.stream_delay = 0.0
    assert (await rig.chat())[0] == 200  # and new traffic uses the new key


async def test_bundle_that_stops_verifying_flips_readiness_and_stops_traffic(rig: Rig) -> None:
    assert (await rig.chat())[0] == 200
    other = SimulatedWorld.generate()
    rig.gateway.serve(shared_world().boot_enclave(signing_vcek=other.vcek))  # wrong AMD chain
    await rig.next_check()
    assert rig.provider.state() is AttestationState.FAILED
    err = rig.provider.status().last_error
    assert err is not None
    assert err.step == "hardware"
    ready = await rig.client.get("/readyz")
    assert ready.status == 503
    assert "step 'hardware'" in (await ready.json())["reason"]
    sent = rig.gateway.stats.chat_requests
    for _ in range(3):
        status, text = await rig.chat()
        assert status == 503
        assert "step 'hardware'" in text
    assert rig.gateway.stats.chat_requests == sent  # no sealed request went out
    doc = await (await rig.client.get("/v1/verification")).json()
    assert doc["verified"] is False
    assert doc["error"]["step"] == "hardware"


async def test_concurrent_triggers_run_one_real_verification(rig: Rig) -> None:
    stale = await rig.provider.current()
    rig.gateway.rotate()
    fetches = rig.gateway.stats.attestation_fetches
    results = await asyncio.gather(
        *(rig.provider.refresh(stale) for _ in range(10)),
        *(rig.provider.current() for _ in range(10)),
    )
    await wait_for(rig.idle)
    assert rig.gateway.stats.attestation_fetches == fetches + 1
    refreshed = results[:10]
    assert {t.generation for t in refreshed} == {stale.generation + 1}
    assert {t.hpke_public_key for t in refreshed} == {rig.gateway.enclave.hpke_public_key}


async def test_default_provider_with_production_trust_refuses_the_simulator(
    tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    # `create_app` without a provider builds AttestedProvider(settings) with the production
    # Attestor. The simulator's AMD root is offered as a chain file (so nothing is fetched
    # from AMD) and must be refused by the pins: fail closed, no chat traffic.
    world = shared_world()
    gateway = SimulatedGateway(world)
    chain = tmp_path / "amd-chain.pem"
    chain.write_bytes(world.ask_pem + world.ark_pem)
    async with running_gateway(gateway) as base_url:
        settings = Settings(
            api_base=base_url,
            api_key=SecretStr("sk-simulated-0123456789"),
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
            amd_cert_chain=(chain,),
        )
        app = create_app(settings)
        provider = app[PROVIDER_KEY]
        assert isinstance(provider, AttestedProvider)
        client: Client = await aiohttp_client(app)
        await wait_for(lambda: provider.stats.attempts > 0)
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert "step 'trust' (AMD_ROOT_UNPINNED)" in (await ready.json())["reason"]
        body = {
            "model": f"private/{gateway.models[0]}",
            "messages": [{"role": "user", "content": "x"}],
        }
        resp = await client.post("/v1/chat/completions", json=body)
        assert resp.status == 503
        assert gateway.stats.chat_requests == 0
        assert not (tmp_path / "state" / "attestation-audit.jsonl").exists()


async def test_verification_document_reports_the_real_verification(rig: Rig) -> None:
    world = shared_world()
    enclave = rig.gateway.enclave
    doc = await (await rig.client.get("/v1/verification")).json()
    assert doc["state"] == "verified"
    assert doc["verified"] is True
    e = doc["enclave"]
    assert e["domain"] == world.domain
    assert e["platform"] == "sev-snp"
    assert e["repository"] == "tinfoilsh/confidential-model-router"
    assert e["release_digest"] == world.release.digest
    assert world.release.measurement.hex() in e["code_measurement"]["registers"]
    assert e["hardware_measurement"]["registers"] == [world.release.measurement.hex()]
    assert e["hpke_public_key"] == enclave.hpke_public_key.hex()
    assert e["tls_key_fingerprint"] == spki_sha256(enclave.tls_private_key.public_key()).hex()
    assert set(e["tcb"]) >= {"snp_spl", "ucode_spl"}
    assert [s["step"] for s in doc["steps"]] == [
        "fetch",
        "parse",
        "hardware",
        "provenance",
        "measurement",
        "key_binding",
    ]
    assert {s["status"] for s in doc["steps"]} == {"passed"}
    verified = dt.datetime.fromisoformat(doc["verified_at"])
    expires = dt.datetime.fromisoformat(doc["expires_at"])
    assert expires - verified == dt.timedelta(seconds=7200)


async def test_new_release_measurement_is_flagged_in_audit_log_and_page(
    rig: Rig, tmp_path: Path
) -> None:
    world = shared_world()
    release = world.sign_release(measurement=os.urandom(48))
    rig.gateway.serve(world.boot_enclave(release=release))
    await rig.next_check()
    assert rig.provider.state() is AttestationState.VERIFIED
    lines = AuditLog.in_state_dir(tmp_path / "state").read_entries()
    assert [x["measurement_changed"] for x in lines] == [False, True]
    assert lines[1]["release_digest"] == release.digest
    assert lines[1]["previous_code_measurement"] == lines[0]["code_measurement"]
    doc = await (await rig.client.get("/v1/verification")).json()
    assert doc["measurement_change"]["old"] == lines[0]["code_measurement"]
    assert doc["measurement_change"]["new"] == lines[1]["code_measurement"]
    html = await (await rig.client.get("/", headers={"Accept": "text/html"})).text()
    assert 'id="measurement-change"' in html
    assert rig.provider.stats.measurement_changes == 1
    assert (await rig.chat())[0] == 200
