"""Upstream lifetimes: a disconnect cancels the gateway request; failures map honestly."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp

from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, json_reply, sse_reply

MESSAGES = [{"role": "user", "content": "Hello"}]


async def test_client_disconnect_mid_stream_cancels_upstream(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    reply = sse_reply([chunk("a", "m"), chunk("b", "m")])
    reply.hang_after = 1
    gateway.reply = lambda seen: reply
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            proxy.make_url("/v1/chat/completions"), json={"messages": MESSAGES, "stream": True}
        )
        assert await resp.content.readuntil(b"\n\n") == reply.frames[0]
        resp.close()  # the local client goes away mid-stream
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), 5)


async def test_client_disconnect_before_headers_cancels_upstream(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: Reply(delay_headers=30, frames=[b"{}"])
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(
            session.post(proxy.make_url("/v1/chat/completions"), json={"messages": MESSAGES})
        )
        while not gateway.seen:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), 5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_gateway_is_502(make_proxy: MakeProxy) -> None:
    client = await make_proxy(api_base=f"http://127.0.0.1:{_closed_port()}")
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 502
    err = (await resp.json())["error"]
    assert err["type"] == "gateway_unreachable"
    # /v1/models still answers from the built-in list.
    models = await (await client.get("/v1/models")).json()
    assert models["data"][0]["id"] == "private/kimi-k3"


async def test_first_byte_timeout_is_504(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    client = await make_proxy(upstream_first_byte_timeout=0.2)
    gateway.reply = lambda seen: Reply(delay_headers=30, frames=[b"{}"])
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 504
    assert (await resp.json())["error"]["type"] == "gateway_timeout"
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), 5)


async def test_idle_timeout_mid_stream_is_sse_error(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(upstream_idle_timeout=0.2)
    reply = sse_reply([chunk("a", "m"), chunk("b", "m")])
    reply.hang_after = 1
    gateway.reply = lambda seen: reply
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
    assert resp.status == 200
    text = (await resp.read()).decode()
    assert text.startswith(reply.frames[0].decode())
    event = json.loads(text.rstrip("\n").rsplit("\n", 1)[-1].removeprefix("data: "))
    assert event["error"]["type"] == "gateway_timeout"
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), 5)


async def test_connection_reuse_across_requests(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply({"n": len(gateway.seen)}, frames=2)
    results = await asyncio.gather(
        *(proxy.post("/v1/chat/completions", json={"messages": MESSAGES}) for _ in range(20))
    )
    bodies = [await r.json() for r in results]
    assert sorted(b["n"] for b in bodies) == list(range(1, 21))
    assert len({s.enc for s in gateway.seen}) == 20  # a fresh ephemeral key per request


async def test_metrics_hooks_count_relay_events(proxy: ProxyClient, gateway: FakeGateway) -> None:
    from privproxy.ops.metrics import METRICS_KEY

    ok = sse_reply([chunk("a", "m")])
    bad = sse_reply([chunk("a", "m"), chunk("b", "m")])
    bad.tamper_frame = 1
    cut = sse_reply([chunk("a", "m"), chunk("b", "m")])
    cut.truncate_last = True
    replies = iter([ok, bad, cut, Reply(status=402, plaintext=True, frames=[b"no"])])
    gateway.reply = lambda seen: next(replies)
    for _ in range(4):
        resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
        await resp.read()
    text = proxy.app[METRICS_KEY].render().decode()
    for line in (
        'privproxy_stream_events_total{event="started"} 3.0',
        'privproxy_stream_events_total{event="completed"} 1.0',
        'privproxy_stream_events_total{event="decrypt_error"} 1.0',
        'privproxy_stream_events_total{event="truncated"} 1.0',
        'privproxy_gateway_responses_total{source="enclave",status="200"} 3.0',
        'privproxy_gateway_responses_total{source="gateway",status="402"} 1.0',
        "privproxy_upstream_ttfb_seconds_count 4.0",
    ):
        assert line in text, line
