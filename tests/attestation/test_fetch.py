"""`attestation.fetch.AiohttpFetcher` against local aiohttp servers (127.0.0.1 only).

Body caps (declared and streamed), no redirects, a total timeout, FETCH_FAILED for every
transport failure (an untrusted TLS certificate too), lowercase response header names, https
or loopback http only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attestation.errors import Code, FetchError
from attestation.fetch import AiohttpFetcher, BaseFetcher, check_url
from tests.attestation.realdata import self_signed_cert

PATH = "/private/attestation"


async def _body(request: web.Request) -> web.Response:
    size = int(request.query.get("size", "5000"))
    return web.Response(body=b"x" * size, headers={"X-Answer": "yes"})


async def _chunked(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()  # no Content-Length: the cap must apply while streaming
    await resp.prepare(request)
    for _ in range(5):
        await resp.write(b"y" * 1000)
    await resp.write_eof()
    return resp


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(3)
    return web.Response(body=b"late")


async def _echo(request: web.Request) -> web.Response:
    data = await request.read()
    return web.Response(body=request.headers.get("X-Probe", "").encode() + b":" + data)


@pytest.fixture
async def server(aiohttp_server: object) -> TestServer:
    app = web.Application()
    app.router.add_get(PATH, _body)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/elsewhere", _body)
    app.router.add_get("/slow", _slow)
    app.router.add_post("/echo", _echo)
    assert callable(aiohttp_server)
    started: TestServer = await aiohttp_server(app)
    return started


@pytest.fixture(params=[AiohttpFetcher])
async def fetcher(request: pytest.FixtureRequest) -> AsyncIterator[BaseFetcher]:
    async with request.param() as instance:
        assert isinstance(instance, BaseFetcher)
        yield instance


def _url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def test_declared_body_cap(server: TestServer, fetcher: BaseFetcher) -> None:
    with pytest.raises(FetchError) as exc:
        await fetcher.get(_url(server, PATH), max_bytes=4000, timeout=5)
    assert exc.value.code is Code.FETCH_FAILED and "exceeds 4000" in exc.value.message
    ok = await fetcher.get(_url(server, PATH), max_bytes=5000, timeout=5)
    assert ok.status == 200 and ok.body == b"x" * 5000
    assert ok.headers["x-answer"] == "yes"  # names lowercased


async def test_streamed_body_cap(server: TestServer, fetcher: BaseFetcher) -> None:
    with pytest.raises(FetchError) as exc:
        await fetcher.get(_url(server, "/chunked"), max_bytes=4999, timeout=5)
    assert "exceeds 4999" in exc.value.message
    ok = await fetcher.get(_url(server, "/chunked"), max_bytes=5000, timeout=5)
    assert ok.body == b"y" * 5000


async def test_redirect_is_not_followed(server: TestServer, fetcher: BaseFetcher) -> None:
    answer = await fetcher.get(_url(server, "/redirect"), max_bytes=1 << 20, timeout=5)
    assert answer.status == 302
    assert answer.headers["location"] == "/elsewhere"
    assert not answer.body.startswith(b"x")  # not the page it points to


async def test_total_timeout(server: TestServer, fetcher: BaseFetcher) -> None:
    start = time.monotonic()
    with pytest.raises(FetchError) as exc:
        await fetcher.get(_url(server, "/slow"), max_bytes=100, timeout=0.3)
    assert "timed out" in exc.value.message
    assert time.monotonic() - start < 2.5


async def test_post_sends_body_and_headers(server: TestServer, fetcher: BaseFetcher) -> None:
    answer = await fetcher.post(
        _url(server, "/echo"), body=b"payload", max_bytes=100, timeout=5, headers={"X-Probe": "p"}
    )
    assert answer.status == 200 and answer.body == b"p:payload"


async def test_connection_refused_is_fetch_failed(fetcher: BaseFetcher) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as exc:
        await fetcher.get(f"http://127.0.0.1:{port}{PATH}", max_bytes=100, timeout=5)
    assert exc.value.code is Code.FETCH_FAILED


async def test_plain_http_to_a_remote_host_is_refused(fetcher: BaseFetcher) -> None:
    with pytest.raises(FetchError) as exc:  # refused before any connection is tried
        await fetcher.get("http://api.ppq.ai/private/attestation", max_bytes=100, timeout=5)
    assert "non-https" in exc.value.message


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


def _self_signed_tls(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = self_signed_cert(
        key,
        "127.0.0.1",
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        valid=(now - dt.timedelta(days=1), now + dt.timedelta(days=1)),
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def test_untrusted_tls_certificate_is_refused(
    aiohttp_server: object, tmp_path: Path, fetcher: BaseFetcher
) -> None:
    """https means a verified server: a self-signed certificate is a transport failure."""
    app = web.Application()
    app.router.add_get(PATH, _body)
    assert callable(aiohttp_server)
    server: TestServer = await aiohttp_server(app, ssl=_self_signed_tls(tmp_path))
    url = f"https://127.0.0.1:{server.port}{PATH}"
    with pytest.raises(FetchError) as exc:
        await fetcher.get(url, max_bytes=1 << 20, timeout=5)
    assert exc.value.code is Code.FETCH_FAILED
    assert "SSLCertVerificationError" in exc.value.message  # refused for the certificate
