"""Bounded local resources: the connection cap, the client write timeout, the total stream
duration and an idle timeout that trickles cannot reset, JSON parsing cost, and the smaller
input checks (`stream` type, catalog size, model lists in errors)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.gateway.catalog import CatalogView
from privproxy.gateway.forward import CATALOG_MAX_ENTRIES, GatewayError, _catalog_entries
from privproxy.server import guards, receive
from privproxy.server.config import ConfigError, Settings
from privproxy.server.connections import BUSY_ANSWER
from privproxy.server.receive import UnknownModelError, resolve_model
from privproxy.server.runner import RunningServer, running
from tests.privproxy.conftest import MakeProxy, ProxyClient, proxy_settings
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply

MODEL = "kimi-k3"
CHAT = "/v1/chat/completions"
BODY: dict[str, Any] = {"model": "private/kimi-k3", "messages": [], "stream": True}
ZERO_FRAME = struct.pack(">I", 0)


@pytest.fixture
async def serve(gateway: FakeGateway, tmp_path: Path) -> AsyncIterator[Any]:
    """`await serve(**settings)` → a proxy listening on a real socket (`running`)."""
    stack: list[Any] = []

    async def start(**overrides: Any) -> RunningServer:
        values: dict[str, Any] = {"port": 0, "shutdown_timeout": 0.5}
        values.update(overrides)
        settings = proxy_settings(gateway, tmp_path, **values)
        provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
        context = running(settings, provider=provider)
        stack.append(context)
        return await context.__aenter__()

    yield start
    gateway.release_hang.set()
    for context in reversed(stack):
        await context.__aexit__(None, None, None)


# -- connection cap -------------------------------------------------------------------------


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), timeout=0.05) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_idle_flood_cannot_lock_out_health_or_requests(
    serve: Any, gateway: FakeGateway
) -> None:
    server = await serve(max_connections=16)
    host, port = "127.0.0.1", server.port
    flood = [await asyncio.open_connection(host, port) for _ in range(40)]
    # A partial request head on some of them: still idle (no request in progress).
    for _, writer in flood[:10]:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
    await asyncio.sleep(0.1)
    gateway.reply = lambda seen: sse_reply([chunk("ok", MODEL)])
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/healthz") as resp:
            assert resp.status == 200
        async with session.post(server.url + CHAT, json=BODY) as resp:
            assert resp.status == 200
            assert (await resp.text()).endswith("data: [DONE]\n\n")
    closed = [await _closed_by_server(reader) for reader, _ in flood]
    assert sum(closed) >= len(flood) - 16  # the oldest idle ones made room
    for _, writer in flood:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_all_connections_busy_new_one_gets_503(serve: Any, gateway: FakeGateway) -> None:
    server = await serve(max_connections=4)
    first = sse_reply([chunk("Hel", MODEL)]).frames
    gateway.reply = lambda seen: Reply(content_type="text/event-stream", frames=first, hang_after=1)
    sessions = [aiohttp.ClientSession() for _ in range(4)]
    streams: list[aiohttp.ClientResponse] = []
    try:
        for s in sessions:
            streams.append(await s.post(server.url + CHAT, json=BODY))
        for resp in streams:
            assert resp.status == 200
            await resp.content.readuntil(b"\n\n")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        assert answer == BUSY_ANSWER
        assert b'"code":"too_many_connections"' in answer
    finally:
        gateway.release_hang.set()
        for resp in streams:
            resp.close()
        for s in sessions:
            await s.close()


# -- client write timeout -------------------------------------------------------------------


async def test_client_that_stops_reading_is_disconnected(serve: Any, gateway: FakeGateway) -> None:
    server = await serve(client_write_timeout=1.0)
    event = b"data: " + b"x" * 60_000 + b"\n\n"
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=[event] * 400, split_writes=False
    )
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        payload = b'{"model":"private/kimi-k3","messages":[],"stream":true}'
        head = (
            f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        await loop.sock_sendall(sock, head + payload)
        # Never read: the proxy's writes stall, and the connection (with its upstream
        # answer) is dropped after the write timeout instead of being held forever.
        await asyncio.wait_for(gateway.upstream_cancelled.wait(), timeout=30)
    finally:
        sock.close()


# -- stream duration and idle timeout --------------------------------------------------------


async def _stream_text(proxy: ProxyClient) -> str:
    resp = await proxy.post(CHAT, json=BODY)
    assert resp.status == 200
    async with asyncio.timeout(15):
        return await resp.text()


async def test_total_stream_duration_is_bounded(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    # A steady answer (an event every 0.1 s for 30 s) is never idle; the total limit ends it.
    events = sse_reply([chunk(str(i), MODEL) for i in range(300)]).frames
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=events, frame_delay=0.1
    )
    proxy = await make_proxy(upstream_max_stream_seconds=1.0)
    text = await _stream_text(proxy)
    assert '"code":"gateway_timeout"' in text
    assert "longer than the proxy allows" in text
    assert "[DONE]" not in text


@pytest.mark.parametrize(
    "tail",
    [ZERO_FRAME * 100, struct.pack(">I", 1000) + b"\x01" * 396],
    ids=["zero_length_frames", "one_byte_trickle"],
)
async def test_trickle_does_not_reset_the_idle_timeout(
    make_proxy: MakeProxy, gateway: FakeGateway, tail: bytes
) -> None:
    # 400 bytes, one every 50 ms (20 s), none completing a real frame.
    first = sse_reply([chunk("Hel", MODEL)]).frames[:1]
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=first, raw_tail=tail, tail_delay=0.05
    )
    proxy = await make_proxy(upstream_idle_timeout=0.5)
    text = await _stream_text(proxy)
    assert text.startswith("data: ")
    assert '"code":"gateway_timeout"' in text
    assert "stopped sending" in text


# -- JSON parsing cost ----------------------------------------------------------------------


async def test_pathological_json_is_refused_and_health_stays_responsive(
    serve: Any, gateway: FakeGateway
) -> None:
    server = await serve(max_body_bytes=32 * 1024 * 1024)
    prefix = b'{"model":"private/kimi-k3","messages":['
    count = (31 * 1024 * 1024 - len(prefix)) // 3
    body = prefix + b",".join([b"[]"] * count) + b"]}"
    assert len(body) > 31 * 1024 * 1024 - 4
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe(session: aiohttp.ClientSession) -> None:
        while not done.is_set():
            started = time.perf_counter()
            async with session.get(server.url + "/healthz") as resp:
                assert resp.status == 200
                await resp.read()
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)

    async with aiohttp.ClientSession() as probes, aiohttp.ClientSession() as poster:
        async with probes.get(server.url + "/healthz") as resp:  # connection warmed up
            assert resp.status == 200
        task = asyncio.get_running_loop().create_task(probe(probes))
        headers = {"Content-Type": "application/json"}
        upload = io.BytesIO(body)
        async with poster.post(server.url + CHAT, data=upload, headers=headers) as resp:
            status, answer = resp.status, await resp.json()
        done.set()
        await task
    assert status == 400
    assert "JSON arrays/objects" in answer["error"]["message"]
    assert gateway.requests == 0
    assert latencies
    # The required bound: /healthz answers within 100 ms while the body is dealt with.
    assert max(latencies) < 0.1, f"slowest /healthz: {max(latencies) * 1000:.0f} ms"


async def test_json_cost_counts_skip_strings() -> None:
    # Punctuation inside strings costs nothing to parse: a long prompt full of it is fine.
    text = '{"messages":[{"role":"user","content":"' + "[{,:" * 400_000 + '"}]}'
    await receive.check_json_cost(text.encode())
    many = b"[" + b",".join([b"0"] * (receive.MAX_JSON_VALUES + 1)) + b"]"
    with pytest.raises(receive.InvalidRequestError, match="JSON values"):
        await receive.check_json_cost(many)
    nested = b"[" * (receive.MAX_JSON_CONTAINERS + 1)
    with pytest.raises(receive.InvalidRequestError, match="arrays/objects"):
        await receive.check_json_cost(nested)


async def test_large_ordinary_body_still_accepted(proxy: ProxyClient, gateway: FakeGateway) -> None:
    # Over the scan threshold, with more brackets than the container limit, all inside a
    # string: counted exactly (strings skipped) and forwarded as usual.
    content = "[{" * (receive.MAX_JSON_CONTAINERS // 2 + 25_000) + "x" * 120_000
    big = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": content}]}
    raw = json.dumps(big).encode()
    assert len(raw) >= receive.JSON_SCAN_MIN_BYTES
    upload = io.BytesIO(raw)
    resp = await proxy.post(CHAT, data=upload, headers={"Content-Type": "application/json"})
    assert resp.status == 200
    assert gateway.seen[-1].body["messages"][0]["content"] == content


# -- smaller checks -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "true", 0, 1, [], {}])
async def test_stream_must_be_a_boolean(
    proxy: ProxyClient, gateway: FakeGateway, value: Any
) -> None:
    resp = await proxy.post(
        CHAT, json={"model": "private/kimi-k3", "messages": [], "stream": value}
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert "'stream' must be a boolean" in error["message"]
    assert gateway.requests == 0


async def test_stream_null_means_not_streamed(proxy: ProxyClient, gateway: FakeGateway) -> None:
    resp = await proxy.post(CHAT, json={"model": "private/kimi-k3", "messages": [], "stream": None})
    assert resp.status == 200
    assert "no-cache" not in resp.headers.get("Cache-Control", "")


def test_catalog_is_bounded_in_entries() -> None:
    entries = [{"id": f"private/m{i}"} for i in range(CATALOG_MAX_ENTRIES + 1)]
    with pytest.raises(GatewayError, match="too many entries"):
        _catalog_entries({"data": entries})
    kept = _catalog_entries({"data": [{"id": "private/ok"}, {"id": "private/" + "x" * 300}]})
    assert kept == [{"id": "private/ok"}]


def test_unknown_model_error_lists_a_few_ids() -> None:
    view = CatalogView(tuple(f"private/m{i}" for i in range(50)), known=True)
    with pytest.raises(UnknownModelError) as info:
        resolve_model("nope", view)
    message = info.value.message
    assert message.count("private/m") == receive.MODELS_SHOWN
    assert message.endswith("and 45 more (GET /v1/models)")


async def test_request_head_is_bounded(proxy: ProxyClient, gateway: FakeGateway) -> None:
    # One header value over the field limit: refused by the HTTP parser, never handled.
    resp = await proxy.get("/v1/models", headers={"X-Big": "v" * (guards.MAX_HEADER_FIELD + 10)})
    assert resp.status in (400, 431)
    assert guards.MAX_HEADER_FIELD * guards.MAX_HEADERS <= 512 * 1024  # per connection, at most


def test_resource_flags_parse(tmp_path: Path) -> None:
    argv = [
        "--max-connections", "50",
        "--client-write-timeout", "5",
        "--upstream-max-stream-seconds", "120",
        "--max-response-frame-bytes", "1048576",
        "--frame-budget-bytes", "8388608",
    ]  # fmt: skip
    settings = Settings.from_env_and_args({"HOME": str(tmp_path)}, argv)
    assert settings.max_connections == 50
    assert settings.client_write_timeout == 5.0
    assert settings.upstream_max_stream_seconds == 120.0
    assert settings.max_response_frame_bytes == 1024 * 1024
    assert settings.frame_budget_bytes == 8 * 1024 * 1024
    with pytest.raises(ConfigError, match="max_response_frame_bytes"):
        Settings.from_env_and_args(
            {"HOME": str(tmp_path)}, ["--max-response-frame-bytes", str(1 << 30)]
        )
