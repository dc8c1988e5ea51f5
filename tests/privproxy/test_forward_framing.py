"""`forward.send` against a byte-exact gateway: how an enclave answer must be framed, and
which client header travels upstream.

An answer carrying `Ehbp-Response-Nonce` whose body ends only where the connection closes
is refused before a byte of it is decrypted: a cut at a frame boundary (over TLS also a
close without close_notify) would otherwise pass for the end of a complete answer. The same
frames, framed by chunks or by Content-Length, are accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import SecretStr

from privproxy.ehbp import EhbpProtocolError
from privproxy.ehbp.request import seal_request
from privproxy.enclave.provider import EnclaveTarget
from privproxy.gateway.forward import Upstream, create_pool, send
from privproxy.server.config import ConfigError, Settings
from privproxy.simulator.ehbp_server import ResponseSealer, open_request
from tests.privproxy.gateway.h1.raw_server import TIMEOUT, Request, ServerConn, serve

API_KEY = "sk-test-0123456789abcdef"
ANSWER = b'{"id":"c1","choices":[{"message":{"content":"Hi"}}]}'

Framing = Callable[[bytes, str], bytes]


def _close_delimited(body: bytes, nonce: str) -> bytes:
    return b"HTTP/1.1 200 OK\r\nEhbp-Response-Nonce: %s\r\n\r\n" % nonce.encode() + body


def _length(body: bytes, nonce: str) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nEhbp-Response-Nonce: %s\r\nContent-Length: %d\r\n\r\n"
    return head % (nonce.encode(), len(body)) + body


def _chunked(body: bytes, nonce: str) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nEhbp-Response-Nonce: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head % nonce.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


class Enclave:
    """Opens each sealed request with the simulator's server side and answers `ANSWER`,
    sealed, in the framing under test; then closes the connection (FIN)."""

    def __init__(self, framing: Framing) -> None:
        self.key = X25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes_raw()
        self.framing = framing
        self.requests: list[Request] = []

    async def __call__(self, conn: ServerConn) -> None:
        request = await conn.read_request()
        assert request is not None
        self.requests.append(request)
        enc_hex = _header(request, b"ehbp-encapsulated-key").decode()
        _, exported = open_request(self.key, enc_hex, request.body)
        sealer = ResponseSealer(exported, bytes.fromhex(enc_hex))
        await conn.send(self.framing(sealer.seal(ANSWER), sealer.nonce_hex))
        conn.writer.close()


def _header(request: Request, name: bytes) -> bytes:
    for line in request.head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    raise KeyError(name)


def _has_header(request: Request, name: bytes) -> bool:
    try:
        _header(request, name)
    except KeyError:
        return False
    return True


async def _read_all(upstream: Upstream) -> bytes:
    out = b""
    async with asyncio.timeout(TIMEOUT):
        while (piece := await upstream.read()) is not None:
            out += piece
    return out


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[[str], Settings]:
    def make(url: str) -> Settings:
        return Settings(
            api_base=url,
            api_key=SecretStr(API_KEY),
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
        )

    return make


SendTo = Callable[..., Awaitable[Upstream]]


@pytest.fixture
async def exchange(
    settings_for: Callable[[str], Settings],
) -> AsyncIterator[Callable[[Enclave], Awaitable[tuple[SendTo, list[Request]]]]]:
    """`send_to, requests = await exchange(enclave)`; everything is closed at the end."""
    stack = contextlib.AsyncExitStack()

    async def start(enclave: Enclave) -> tuple[SendTo, list[Request]]:
        server = await stack.enter_async_context(serve(enclave))
        settings = settings_for(server.url)
        pool = create_pool(settings)
        stack.push_async_callback(pool.close)
        target = EnclaveTarget("enclave.test", enclave.public, None, 0)

        async def send_to(**kwargs: object) -> Upstream:
            sealed = seal_request(enclave.public, b'{"model":"m","messages":[]}')
            async with asyncio.timeout(TIMEOUT):
                return await send(
                    pool,
                    settings,
                    target,
                    sealed,
                    private_model="private/m",
                    api_key=API_KEY,
                    **kwargs,  # type: ignore[arg-type]
                )

        return send_to, enclave.requests

    async with stack:
        yield start


@pytest.mark.parametrize("framing", [_length, _chunked], ids=["content-length", "chunked"])
async def test_framed_enclave_answer_is_decrypted(
    framing: Framing, exchange: Callable[[Enclave], Awaitable[tuple[SendTo, list[Request]]]]
) -> None:
    send_to, _ = await exchange(Enclave(framing))
    upstream = await send_to()
    try:
        assert await _read_all(upstream) == ANSWER
        assert upstream.complete
    finally:
        upstream.close()


async def test_close_delimited_enclave_answer_is_refused(
    exchange: Callable[[Enclave], Awaitable[tuple[SendTo, list[Request]]]],
) -> None:
    # The very same sealed frames as above, which would decrypt; only the framing differs.
    send_to, _ = await exchange(Enclave(_close_delimited))
    with pytest.raises(EhbpProtocolError, match="not framed") as caught:
        await send_to()
    assert caught.value.status == 502


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("codex", "codex"),
        ("claude-code:2.1.0", "claude-code:2.1.0"),
        ("a_b.c-d", "a_b.c-d"),
        ("x" * 64, "x" * 64),
        ("x" * 65, None),  # too long
        ("", None),
        ("has space", None),
        ("caf\u00e9", None),  # \w would match it without re.ASCII
        ("\u0663", None),  # an Arabic-Indic digit: also \w in Unicode mode
        ("a/b", None),
        ("a\tb", None),
        (None, None),
    ],
)
async def test_tool_id_goes_upstream_only_when_well_formed(
    sent: str | None,
    forwarded: str | None,
    exchange: Callable[[Enclave], Awaitable[tuple[SendTo, list[Request]]]],
) -> None:
    send_to, requests = await exchange(Enclave(_length))
    upstream = await send_to(tool_id=sent)
    upstream.close()
    (request,) = requests
    if forwarded is None:
        assert not _has_header(request, b"x-tool-id")
    else:
        assert _header(request, b"x-tool-id") == forwarded.encode()


def test_pool_for_an_unusable_api_base_is_a_configuration_error(tmp_path: Path) -> None:
    # Settings refuse such a value; one that slips past (model_construct skips validation)
    # still fails at start-up, as a configuration error, not later per request.
    settings = Settings.model_construct(
        api_base="https://gateway.example:99999", max_concurrent_requests=8
    )
    with pytest.raises(ConfigError, match="api_base"):
        create_pool(settings)
