"""`privproxy verify --v3` on the real document: from a file and from a local enclave URL."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from privproxy.cli import verify as cmd_verify
from tests.attestation.v3.realdoc import REAL_DIGEST, REAL_NONCE, real_bytes
from tests.conftest import data_path

INSIDE = "2026-08-15T12:00:00Z"
DOCUMENT = str(data_path("v3", "real-sev-inference-tinfoil.document.json"))


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user cache, no env chains: the AMD chain must come from the document (pinned)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PRIVPROXY_AMD_CERT_CHAIN", raising=False)


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cmd_verify.main(list(argv), stdout=out), out.getvalue()


def test_file_with_nonce_inside_the_window_verifies() -> None:
    code, text = _run("--v3", DOCUMENT, "--nonce", REAL_NONCE.hex(), "--now", INSIDE)
    assert code == cmd_verify.EXIT_VERIFIED, text
    for step in ("parse", "provenance", "freshness", "endorsement", "hardware", "policy"):
        assert f"PASS  {step}" in text
    assert "fresh until 2026-08-20T22:57:58" in text
    assert "GPU evidence      NOT verified" in text


def test_file_json_output() -> None:
    code, text = _run("--v3", DOCUMENT, "--nonce", REAL_NONCE.hex(), "--now", INSIDE, "--json")
    doc = json.loads(text)
    assert code == 0 and doc["verified"] is True
    assert doc["enclave"]["attestation_format"] == "v3"
    assert doc["enclave"]["release_digest"] == REAL_DIGEST
    assert doc["enclave"]["freshness_expires_at"] == "2026-08-20T22:57:58+00:00"


def test_file_today_is_rejected_stale_with_exit_10() -> None:
    code, text = _run("--v3", DOCUMENT, "--nonce", REAL_NONCE.hex(), "--json")
    doc = json.loads(text)
    assert code == cmd_verify.EXIT_REJECTED
    assert doc["error"]["code"] == "V3_PROV_FRESHNESS_STALE"
    assert doc["error"]["step"] == "freshness"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--v3", DOCUMENT), "needs the --nonce"),
        (("--v3", DOCUMENT, "--nonce", "abcd"), "--nonce"),
        (("--v3", DOCUMENT, "--nonce", REAL_NONCE.hex(), "--now", "yesterday"), "ISO 8601"),
    ],
    ids=["no-nonce", "short-nonce", "bad-time"],
)
def test_unusable_flags_exit_1(argv: tuple[str, ...], needle: str) -> None:
    code, text = _run(*argv)
    assert code == cmd_verify.EXIT_ERROR and needle in text


def test_wrong_nonce_is_rejected() -> None:
    code, text = _run("--v3", DOCUMENT, "--nonce", "11" * 32, "--now", INSIDE)
    assert code == cmd_verify.EXIT_REJECTED and "V3_ENV_NONCE_MISMATCH" in text


async def _enclave(aiohttp_server: Any, status: int, seen: list[str]) -> TestServer:
    async def handler(request: web.Request) -> web.Response:
        seen.append(request.query_string)
        if status != 200:
            return web.Response(status=status)
        return web.Response(body=real_bytes(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/.well-known/tinfoil-attestation", handler)
    server: TestServer = await aiohttp_server(app)
    return server


async def test_url_is_fetched_with_our_nonce(aiohttp_server: Any) -> None:
    seen: list[str] = []
    server = await _enclave(aiohttp_server, 200, seen)
    url = str(server.make_url("")).rstrip("/")
    argv = ["--v3", url, "--nonce", REAL_NONCE.hex(), "--now", INSIDE]
    code, text = await asyncio.to_thread(_run, *argv)
    assert code == 0, text
    assert seen == [f"nonce={REAL_NONCE.hex()}"]
    # Without --nonce a fresh one is drawn: the captured document cannot match it.
    code, text = await asyncio.to_thread(_run, "--v3", url, "--now", INSIDE)
    assert code == cmd_verify.EXIT_REJECTED and "V3_ENV_NONCE_MISMATCH" in text
    assert seen[1] != seen[0] and len(seen[1]) == len("nonce=") + 64


async def test_url_without_v3_endpoint_is_a_fetch_error(aiohttp_server: Any) -> None:
    server = await _enclave(aiohttp_server, 404, [])
    url = str(server.make_url("")).rstrip("/")
    code, text = await asyncio.to_thread(_run, "--v3", url, "--json")
    assert code == cmd_verify.EXIT_ERROR
    assert json.loads(text)["error"]["code"] == "V3_FETCH_NOT_FOUND"


async def test_now_also_applies_to_v2(aiohttp_server: Any) -> None:
    from tests.attestation.realdata import amd_chain_files, real_bundle_bytes

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=real_bundle_bytes(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/private/attestation", handler)
    server: TestServer = await aiohttp_server(app)
    chains = [a for p in amd_chain_files() for a in ("--amd-cert-chain", str(p))]
    base = ["--api-base", str(server.make_url("")).rstrip("/"), *chains, "--json"]
    code, text = await asyncio.to_thread(_run, *base, "--now", "2026-11-22T12:00:00Z")
    assert code == 0, text
    assert json.loads(text)["enclave"]["verified_at"] == "2026-11-22T12:00:00+00:00"
    code, text = await asyncio.to_thread(_run, *base, "--now", "2025-01-01T00:00:00Z")
    assert code == cmd_verify.EXIT_REJECTED  # before the real VCEK's validity
    assert json.loads(text)["error"]["code"] == "VCEK_EXPIRED"
