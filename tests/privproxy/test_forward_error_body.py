"""A plaintext gateway error body is read within the request's first-byte deadline.

Each read of an error body is bounded by `upstream_idle_timeout`; without an overall bound a
gateway trickling its error body one byte at a time could hold the local request and a pool
connection for 16 KiB x 300 s. `forward.send` therefore reads it by the first-byte deadline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import SecretStr

from privproxy.ehbp.request import seal_request
from privproxy.enclave.provider import EnclaveTarget
from privproxy.errors import ProxyError
from privproxy.gateway.forward import create_pool, send
from privproxy.server.config import Settings
from tests.privproxy.gateway.h1.raw_server import TIMEOUT, ServerConn, serve

ERROR_BODY = b'{"error": "slow"}'
API_KEY = "sk-test-0123456789abcdef"


async def test_trickled_plaintext_error_body_does_not_outlive_the_first_byte_deadline(
    tmp_path: Path,
) -> None:
    trickle_done = asyncio.Event()

    async def handler(conn: ServerConn) -> None:
        await conn.read_request()
        head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n"
        await conn.send(head % len(ERROR_BODY))
        for i in range(len(ERROR_BODY)):  # ~1.7 s in all; every gap far below the idle timeout
            await asyncio.sleep(0.1)
            await conn.send(ERROR_BODY[i : i + 1])
        trickle_done.set()
        await conn.wait_eof()

    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    target = EnclaveTarget("enclave.test", public, None, 0)
    async with serve(handler) as server:
        settings = Settings(
            api_base=server.url,
            api_key=SecretStr(API_KEY),
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
            upstream_first_byte_timeout=0.3,
            upstream_idle_timeout=30.0,
        )
        pool = create_pool(settings)
        try:
            async with asyncio.timeout(TIMEOUT):
                with pytest.raises(ProxyError):
                    await send(
                        pool,
                        settings,
                        target,
                        seal_request(public, b"{}"),
                        private_model="private/m",
                        api_key=API_KEY,
                    )
        finally:
            await pool.close()
        # With a 0.3 s first-byte deadline the answer must be over long before the ~1.7 s
        # trickle ends.
        assert not trickle_done.is_set()
