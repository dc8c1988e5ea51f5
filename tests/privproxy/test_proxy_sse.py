"""Event-stream relay semantics: headers after the first authenticated frame, whole events only.

A stream's status is decided once its first frame is authenticated (a failure before that is a
clean JSON 502/504, within the first-byte timeout). Plaintext is released up to the last
complete SSE event; an incomplete event is held, dropped when the stream then fails (the client
sees whole events, then the error event), and flushed at a clean end.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from privproxy.server.respond import HELD_EVENT_CAP, sse_cut
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply

MESSAGES = [{"role": "user", "content": "Hello"}]
STREAM = {"messages": MESSAGES, "stream": True}


def _events(lines: list[bytes], size: int, sep: bytes = b"\n\n") -> list[bytes]:
    """The event stream `lines` (each ending with `sep`) cut into frames of `size` bytes."""
    blob = b"".join(lines)
    return [blob[i : i + size] for i in range(0, len(blob), size)]


def _lines(n: int, sep: bytes = b"\n\n") -> list[bytes]:
    return [b"data: " + json.dumps(chunk(f"t{i}", "m")).encode() + sep for i in range(n)]


def _assert_whole_events_then_error(body: bytes, error_type: str, sep: bytes = b"\n\n") -> None:
    """Every event before the error parses as a chunk; the last one is the error event."""
    text = body.decode()
    events = [e for e in text.split(sep.decode()) if e.strip()]
    assert events, text
    *chunks, last = events
    for event in chunks:
        assert event.startswith("data: ")
        assert json.loads(event.removeprefix("data: "))["object"] == "chat.completion.chunk"
    assert json.loads(last.strip().removeprefix("data: "))["error"]["type"] == error_type


@pytest.mark.parametrize(
    ("data", "cut"),
    [
        (b"", 0),
        (b"data: a", 0),
        (b"data: a\n\n", 9),
        (b"data: a\n\ndata: b", 9),
        (b"data: a\r\n\r\ndata: b", 11),
        (b"data: a\n\ndata: b\r\n\r\n", 20),
        (b"data: a\r\n\r\ndata: b\n\ndata: c", 20),
        (b"data: a\ndata: b\n", 0),  # one event, not yet ended
    ],
)
def test_sse_cut(data: bytes, cut: int) -> None:
    assert sse_cut(data) == cut


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
@pytest.mark.parametrize("failure", ["tamper", "truncate"])
async def test_partial_event_dropped_on_failure(
    proxy: ProxyClient, gateway: FakeGateway, sep: bytes, failure: str
) -> None:
    lines = _lines(6, sep)
    frames = _events(lines, 50, sep)  # every event straddles frames
    reply = Reply(content_type="text/event-stream", frames=frames)
    if failure == "tamper":
        reply.tamper_frame = len(frames) // 2
        reply.frame_delay = 0.02  # the good frames before it arrive on their own
    else:
        reply.truncate_last = True
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json=STREAM)
    assert resp.status == 200
    body = await resp.read()
    _assert_whole_events_then_error(body, "ehbp_protocol_error", sep)
    relayed = body.split(b'data: {"error"')[0]
    assert b"".join(lines).startswith(relayed.rstrip(b"\r\n") + sep)  # a prefix of whole events


async def test_partial_event_dropped_on_idle_timeout(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(upstream_idle_timeout=0.2)
    lines = _lines(2)
    half = len(lines[1]) // 2
    reply = Reply(
        content_type="text/event-stream",
        frames=[lines[0] + lines[1][:half], lines[1][half:]],
        hang_after=1,
    )
    gateway.reply = lambda seen: reply
    resp = await client.post("/v1/chat/completions", json=STREAM)
    assert resp.status == 200
    body = await resp.read()
    # The held half event never reached the client: the error event follows the first one.
    assert body.startswith(lines[0] + b'\n\ndata: {"error"')
    _assert_whole_events_then_error(body, "gateway_timeout")
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), 5)


async def test_held_tail_flushed_at_clean_end(proxy: ProxyClient, gateway: FakeGateway) -> None:
    # An upstream that ends without the final blank line: what it sent is still delivered.
    frames = [b'data: {"a": 1}\n\ndata: {"b"', b": 2}\n\ndata: [DONE]"]
    gateway.reply = lambda seen: Reply(content_type="text/event-stream", frames=frames)
    resp = await proxy.post("/v1/chat/completions", json=STREAM)
    assert resp.status == 200
    assert await resp.read() == b"".join(frames)


async def test_events_released_as_soon_as_complete(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    lines = _lines(2)
    half = len(lines[1]) // 2
    reply = Reply(
        content_type="text/event-stream",
        frames=[lines[0] + lines[1][:half], lines[1][half:]],
        hang_after=1,
    )
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json=STREAM)
    # The complete first event arrives while the second is still incomplete upstream.
    assert await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5) == lines[0]
    gateway.release_hang.set()
    assert await resp.read() == lines[1]


async def test_oversized_partial_event_is_not_held(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    big = b"data: " + b"x" * (HELD_EVENT_CAP + 10)
    reply = Reply(content_type="text/event-stream", frames=[big, b"\n\n"], hang_after=1)
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json=STREAM)
    got = await asyncio.wait_for(resp.content.readexactly(len(big)), 5)
    assert got == big  # released although incomplete: memory per stream stays bounded
    gateway.release_hang.set()
    assert await resp.read() == b"\n\n"


async def test_stream_first_frame_timeout_is_clean_504(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    # Headers arrive at once, the first frame never: still within the first-byte timeout,
    # and the client gets a real 504, not a 200 with an error event.
    client = await make_proxy(upstream_first_byte_timeout=0.3, upstream_idle_timeout=10)
    reply = sse_reply([chunk("a", "m")])
    reply.hang_after = 0
    gateway.reply = lambda seen: reply
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await client.post("/v1/chat/completions", json=STREAM)
    elapsed = loop.time() - started
    assert resp.status == 504
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["type"] == "gateway_timeout"
    assert elapsed < 5  # the first-byte deadline, not the 10 s idle timeout
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), 5)


@pytest.mark.parametrize("stream", [True, False])
async def test_forged_first_frame_is_clean_502(
    proxy: ProxyClient, gateway: FakeGateway, stream: bool
) -> None:
    reply: Any = sse_reply([chunk("secret", "m"), chunk("b", "m")]) if stream else None
    if reply is None:
        reply = Reply(frames=[b'{"choices":', b"[]}"])
    reply.tamper_frame = 0
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": stream})
    assert resp.status == 502
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["type"] == "ehbp_protocol_error"


async def test_idle_timeout_shorter_than_first_byte_timeout(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    # The watchdog armed for the (long) first-byte deadline must not delay the (short) idle
    # deadline that applies once the first frame is in.
    client = await make_proxy(upstream_first_byte_timeout=30, upstream_idle_timeout=0.3)
    reply = sse_reply([chunk("a", "m"), chunk("b", "m")])
    reply.hang_after = 1
    reply.frame_delay = 0.05  # the first frame alone, then the wait with the idle deadline
    gateway.reply = lambda seen: reply
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await client.post("/v1/chat/completions", json=STREAM)
    assert resp.status == 200
    body = await resp.read()
    assert loop.time() - started < 5
    _assert_whole_events_then_error(body, "gateway_timeout")


@pytest.mark.parametrize("stream", [True, False])
async def test_allowed_origin_gets_cors_on_relayed_answers(
    make_proxy: MakeProxy, gateway: FakeGateway, stream: bool
) -> None:
    # relay prepares streamed answers itself, so it must add the CORS headers (there is no
    # prepare signal); a whole answer gets them too, and a foreign origin never does.
    client = await make_proxy(allowed_origins=("http://localhost:3000",))
    lines = _lines(3)
    frames = _events(lines, 40)  # several reads: the streamed path, not the whole-answer one
    reply = Reply(content_type="text/event-stream", frames=frames, frame_delay=0.01)
    gateway.reply = lambda seen: reply if stream else Reply(frames=[b'{"ok":true}'])
    resp = await client.post(
        "/v1/chat/completions",
        json={**STREAM, "stream": stream},
        headers={"Origin": "http://localhost:3000"},
    )
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    body = await resp.read()
    assert body == (b"".join(lines) if stream else b'{"ok":true}')
    refused = await client.post(
        "/v1/chat/completions", json=STREAM, headers={"Origin": "https://evil.example"}
    )
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
