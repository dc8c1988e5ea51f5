"""Client faults and resource growth, through the production runner.

`privproxy.server.runner.running` is used (not the test server) so that the handler-cancellation
and shutdown settings under test are the ones `privproxy serve` uses.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.app_keys import POOL_KEY
from privproxy.server.runner import RunningServer, running
from tests.privproxy.conftest import proxy_settings
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply
from tests.privproxy.test_security_support import MODEL, chat_body, open_fds, rss_bytes

CHAT = "/v1/chat/completions"


@pytest.fixture
async def server(gateway: FakeGateway, tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = proxy_settings(
        gateway,
        tmp_path,
        port=0,
        upstream_first_byte_timeout=5.0,
        upstream_idle_timeout=5.0,
        shutdown_timeout=1.0,
    )
    provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
    async with running(settings, provider=provider) as srv:
        yield srv


async def test_client_disconnect_mid_stream_cancels_upstream(
    server: RunningServer, gateway: FakeGateway
) -> None:
    honest = sse_reply([chunk(str(i), MODEL) for i in range(10)])
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=honest.frames, hang_after=2
    )
    async with aiohttp.ClientSession() as session:
        resp = await session.post(server.url + CHAT, json=chat_body())
        assert resp.status == 200
        first = await resp.content.readuntil(b"\n\n")
        assert first.startswith(b"data: ")
        resp.close()  # the client goes away mid-stream
    # The proxy must drop its upstream request (Node kept it running and billing, 4.4).
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), timeout=5)
    assert gateway.requests == 1


async def _snapshot(gateway: FakeGateway, server: RunningServer) -> dict[str, int]:
    gateway.seen.clear()  # the fake's own per-request records are not the proxy's
    # Kept-alive gateway connections are the pool's bounded working set, not a leak, and how
    # many a burst of 256 opens depends on scheduling (a loaded machine opens more): close the
    # idle ones so both snapshots see the same pool. Busy ones (a leak) stay and are counted.
    server.app[POOL_KEY].close_idle()
    await asyncio.sleep(0.1)  # the sockets' other ends and the fake's handler tasks finish
    gc.collect()
    return {
        "tasks": len(asyncio.all_tasks()),
        "fds": open_fds(),
        "rss": rss_bytes(),
        "objects": len(gc.get_objects()),
    }


async def _drive(url: str, sequential: int, concurrent: int) -> None:
    connector = aiohttp.TCPConnector(limit=concurrent + 8)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, json=chat_body()) as resp:
                assert resp.status == 200
                body = await resp.read()
                assert body.endswith(b"data: [DONE]\n\n")

        for _ in range(sequential):
            await one()
        await asyncio.gather(*(one() for _ in range(concurrent)))


async def test_many_streams_leave_no_growth(server: RunningServer, gateway: FakeGateway) -> None:
    reply = sse_reply([chunk("Hel", MODEL), chunk("lo!", MODEL)])
    gateway.reply = lambda seen: reply
    url = server.url + CHAT
    # Warm-up of the same shape: pools, caches and allocator arenas reach steady state.
    await _drive(url, sequential=100, concurrent=256)
    before = await _snapshot(gateway, server)
    await _drive(url, sequential=1000, concurrent=256)
    after = await _snapshot(gateway, server)
    growth: dict[str, Any] = {k: after[k] - before[k] for k in before}
    assert gateway.requests == 100 + 256 + 1000 + 256
    # Per-stream leaks of one task, socket or 64 KiB buffer would exceed these by far
    # (1,256 streams); the slack absorbs keep-alive pool churn and allocator noise.
    assert growth["tasks"] <= 8, growth
    assert growth["fds"] <= 16, growth
    assert growth["rss"] <= 24 * 1024 * 1024, growth
    assert growth["objects"] <= 600, growth
