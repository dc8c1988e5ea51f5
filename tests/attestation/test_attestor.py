"""Attestor against local aiohttp servers (127.0.0.1 only) and a fake fetcher."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from attestation.attestor import Attestor
from attestation.errors import AttestationError, Code, FetchError, Step
from attestation.fetch import AiohttpFetcher, BaseFetcher, Fetcher
from attestation.policy import Policy
from attestation.sev.roots import AmdTrust
from attestation.trust import Trust
from tests.attestation.fakes import FakeFetcher
from tests.attestation.realdata import FIXED_NOW, amd_chain_files, real_bundle_bytes


def _app(body: bytes, *, status: int = 200, redirect: bool = False) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        if redirect:
            raise web.HTTPFound("/elsewhere")
        return web.Response(body=body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_get("/private/attestation", handler)
    return app


def _trust(amd: AmdTrust) -> Trust:
    from attestation.provenance.trust import SigstoreTrust

    return Trust(amd=amd, sigstore=SigstoreTrust.production())


def _genoa_file() -> Path:
    return next(p for p in amd_chain_files() if p.name.startswith("Genoa"))


async def _server(aiohttp_server: object, app: web.Application) -> TestServer:
    assert callable(aiohttp_server)
    server: TestServer = await aiohttp_server(app)
    return server


@pytest.mark.parametrize("fetcher_type", [AiohttpFetcher])
async def test_fetch_and_verify_real_bundle(
    aiohttp_server: object, fetcher_type: type[BaseFetcher]
) -> None:
    server = await _server(aiohttp_server, _app(real_bundle_bytes()))
    async with fetcher_type() as fetcher:
        attestor = _attestor(fetcher, AmdTrust.pinned_from_files([_genoa_file()]))
        enclave = await attestor.fetch_and_verify(str(server.make_url("")))
    assert enclave.domain == "inference.tinfoil.sh"
    assert enclave.verified_at == FIXED_NOW


def _attestor(fetcher: Fetcher, amd: AmdTrust) -> Attestor:
    return Attestor(fetcher, policy=Policy.production(), trust=_trust(amd), clock=lambda: FIXED_NOW)


async def test_shipped_roots_need_no_network() -> None:
    fetcher = FakeFetcher()  # any GET fails the test
    await _attestor(fetcher, AmdTrust.shipped()).verify(real_bundle_bytes())
    assert fetcher.urls == []


async def test_missing_root_fails_closed_without_download() -> None:
    fetcher = FakeFetcher()
    attestor = _attestor(fetcher, AmdTrust([], pinned=True))
    with pytest.raises(AttestationError) as exc:
        await attestor.verify(real_bundle_bytes())
    assert exc.value.step is Step.TRUST and exc.value.code is Code.TRUST_ROOT_INVALID
    assert fetcher.urls == []


@pytest.mark.parametrize("fetcher_type", [AiohttpFetcher])
@pytest.mark.parametrize(("status", "redirect"), [(503, False), (200, True)])
async def test_fetch_failures(
    aiohttp_server: object, status: int, redirect: bool, fetcher_type: type[BaseFetcher]
) -> None:
    server = await _server(aiohttp_server, _app(b"{}", status=status, redirect=redirect))
    async with fetcher_type() as fetcher:
        attestor = _attestor(fetcher, AmdTrust([], pinned=True))
        with pytest.raises(FetchError) as exc:
            await attestor.fetch_bundle(str(server.make_url("")))
    assert exc.value.code is Code.FETCH_FAILED


def test_clock_default_is_aware() -> None:
    from attestation.attestor import utc_now

    assert utc_now().tzinfo is not None
    assert abs(utc_now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


async def test_production_wiring_verifies_real_bundle(tmp_path: Path) -> None:
    fetcher = FakeFetcher()  # any GET fails the test: roots ship with the package
    attestor = Attestor.production(fetcher, cache_dir=tmp_path, clock=lambda: FIXED_NOW)
    assert attestor.trust.amd.pinned
    enclave = await attestor.verify(real_bundle_bytes())
    assert enclave.repository == "tinfoilsh/confidential-model-router"
    assert fetcher.urls == []


async def test_warm_up_builds_the_verifier_in_a_thread_and_never_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from attestation.provenance.trust import SigstoreTrust

    threads: list[int] = []

    def refusing_verifier(self: SigstoreTrust) -> object:
        threads.append(threading.get_ident())
        raise RuntimeError("library refuses this root")

    monkeypatch.setattr(SigstoreTrust, "verifier", refusing_verifier)
    attestor = _attestor(FakeFetcher(), AmdTrust([], pinned=True))
    await attestor.warm_up()  # the refusal is left for verify() to report with its code
    assert len(threads) == 1 and threads[0] != threading.get_ident()
    no_sigstore = Attestor(
        FakeFetcher(), policy=Policy.production(), trust=Trust(amd=AmdTrust([], pinned=True))
    )
    await no_sigstore.warm_up()
    assert len(threads) == 1
