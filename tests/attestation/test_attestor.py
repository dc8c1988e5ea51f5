"""Attestor + AiohttpFetcher against local aiohttp servers (127.0.0.1 only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from attestation.attestor import Attestor
from attestation.errors import AttestationError, Code, FetchError, Step
from attestation.fetch import AiohttpFetcher, FetchResult, check_url
from attestation.policy import Policy
from attestation.sev.abi import Product
from attestation.sev.roots import AmdTrust, cache_file
from attestation.trust import Trust
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


async def test_fetch_and_verify_real_bundle(aiohttp_server: object) -> None:
    server = await _server(aiohttp_server, _app(real_bundle_bytes()))
    async with AiohttpFetcher() as fetcher:
        attestor = Attestor(
            fetcher,
            policy=Policy.production(),
            trust=_trust(AmdTrust.pinned_from_files([_genoa_file()])),
            clock=lambda: FIXED_NOW,
        )
        enclave = await attestor.fetch_and_verify(str(server.make_url("")))
    assert enclave.domain == "inference.tinfoil.sh"
    assert enclave.verified_at == FIXED_NOW


class _KdsFetcher:
    """Serves the KDS cert_chain from ../shared; anything else is an error."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def get(
        self, url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        self.urls.append(url)
        assert url == "https://kdsintf.amd.com/vcek/v1/Genoa/cert_chain"
        return FetchResult(200, {}, _genoa_file().read_bytes())

    async def post(
        self,
        url: str,
        *,
        body: bytes,
        max_bytes: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        raise AssertionError("unexpected POST")


async def test_amd_roots_fetched_on_first_need_then_cached(tmp_path: Path) -> None:
    fetcher = _KdsFetcher()
    policy = Policy.production()
    attestor = Attestor(
        fetcher,
        policy=policy,
        trust=_trust(AmdTrust([], pinned=True)),
        clock=lambda: FIXED_NOW,
        cache_dir=tmp_path,
    )
    await attestor.verify(real_bundle_bytes())
    await attestor.verify(real_bundle_bytes())
    assert len(fetcher.urls) == 1  # second verification reuses the loaded chain
    assert cache_file(tmp_path / "amd", Product.GENOA).exists()
    # A new attestor (new process) finds it in the cache and needs no download.
    fresh = _KdsFetcher()
    again = Attestor(
        fresh,
        policy=policy,
        trust=_trust(AmdTrust([], pinned=True)),
        clock=lambda: FIXED_NOW,
        cache_dir=tmp_path,
    )
    await again.verify(real_bundle_bytes())
    assert fresh.urls == []


async def test_unpinned_trust_never_downloads(tmp_path: Path) -> None:
    fetcher = _KdsFetcher()
    attestor = Attestor(
        fetcher,
        policy=Policy.production(),
        trust=_trust(AmdTrust([], pinned=False)),
        cache_dir=tmp_path,
    )
    with pytest.raises(AttestationError) as exc:
        await attestor.verify(real_bundle_bytes())
    assert exc.value.step is Step.TRUST
    assert fetcher.urls == []


@pytest.mark.parametrize(("status", "redirect"), [(503, False), (200, True)])
async def test_fetch_failures(aiohttp_server: object, status: int, redirect: bool) -> None:
    server = await _server(aiohttp_server, _app(b"{}", status=status, redirect=redirect))
    async with AiohttpFetcher() as fetcher:
        attestor = Attestor(
            fetcher, policy=Policy.production(), trust=_trust(AmdTrust([], pinned=True))
        )
        with pytest.raises(FetchError) as exc:
            await attestor.fetch_bundle(str(server.make_url("")))
    assert exc.value.code is Code.FETCH_FAILED


async def test_body_size_cap(aiohttp_server: object) -> None:
    server = await _server(aiohttp_server, _app(b"x" * 5000))
    async with AiohttpFetcher() as fetcher:
        with pytest.raises(FetchError):
            await fetcher.get(
                str(server.make_url("/private/attestation")), max_bytes=4000, timeout=5
            )
        ok = await fetcher.get(
            str(server.make_url("/private/attestation")), max_bytes=5000, timeout=5
        )
    assert ok.status == 200 and len(ok.body) == 5000


def test_url_policy() -> None:
    check_url("https://api.ppq.ai/private/attestation")
    check_url("http://127.0.0.1:8080/private/attestation")
    check_url("http://localhost/private/attestation")
    check_url("http://[::1]:9/x")
    for bad in (
        "http://api.ppq.ai/private/attestation",
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "https:///x",
    ):
        with pytest.raises(FetchError):
            check_url(bad)


def test_clock_default_is_aware() -> None:
    from attestation.attestor import utc_now

    assert utc_now().tzinfo is not None
    assert abs(utc_now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


async def test_production_wiring_verifies_real_bundle(tmp_path: Path) -> None:
    fetcher = _KdsFetcher()  # would serve KDS; must not be needed with the chain file given
    attestor = Attestor.production(
        fetcher, cache_dir=tmp_path, clock=lambda: FIXED_NOW, amd_chain_files=[_genoa_file()]
    )
    assert attestor.trust.amd.pinned
    enclave = await attestor.verify(real_bundle_bytes())
    assert enclave.repository == "tinfoilsh/confidential-model-router"
    assert fetcher.urls == []
