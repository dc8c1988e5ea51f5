"""Hostile inputs through the whole proxy, asserting both ends.

Local side: refused requests (foreign Host/Origin, CORS-simple content types, missing or wrong
token) never reach the gateway; bad bodies (oversized, malformed, slow) are refused with the
right status while others keep being served. Gateway side: tampered, truncated, nonce-less,
forged, plaintext-error, hanging, refusing and disconnecting gateways give the client the
documented status or an SSE error event, never unauthenticated bytes as the model's answer.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from tests.privproxy.conftest import API_KEY, MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply
from tests.privproxy.test_security_support import (
    LOCAL_TOKEN,
    MARKER,
    MODEL,
    chat_body,
    closed_port,
    raw_gateway,
    sse_error,
    sse_events,
    stalled_listener,
)

CHAT = "/v1/chat/completions"
FAST = {
    "upstream_first_byte_timeout": 0.5,
    "upstream_idle_timeout": 0.5,
    "upstream_connect_timeout": 1.0,
}
FORGED = "FORGED-BY-GATEWAY-not-the-model"


def _honest_stream() -> Reply:
    return sse_reply([chunk("Hel", MODEL), chunk("lo!", MODEL)])


async def _assert_served(client: ProxyClient, gateway: FakeGateway) -> None:
    """The proxy still serves an honest stream end to end."""
    gateway.reply = lambda seen: _honest_stream()
    before = gateway.requests
    resp = await client.post(CHAT, json=chat_body())
    assert resp.status == 200
    body = await resp.read()
    assert sse_events(body)[-1] == "[DONE]"
    assert gateway.requests == before + 1


# --- Refused local requests: the gateway receives nothing -----------------------------------


@pytest.mark.parametrize(
    ("headers", "data", "status"),
    [
        ({"Host": "attacker.example:8787"}, None, 403),
        ({"Origin": "https://attacker.example"}, None, 403),
        ({"Origin": "null"}, None, 403),
        ({"Content-Type": "text/plain"}, b"json-as-text", 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1", 415),
        ({"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz--", 415),
    ],
)
async def test_browser_shaped_attacks_refused(
    make_proxy: MakeProxy,
    gateway: FakeGateway,
    headers: dict[str, str],
    data: bytes | None,
    status: int,
) -> None:
    client = await make_proxy()
    if data is None:
        resp = await client.post(CHAT, json=chat_body(), headers=headers)
    else:
        resp = await client.post(CHAT, data=data, headers=headers)
    assert resp.status == status
    body = await resp.json()
    assert "choices" not in body and body["error"]["code"]
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert gateway.requests == 0
    await _assert_served(client, gateway)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope-nope-nope-nope", f"Bearer {API_KEY}", f"Basic {LOCAL_TOKEN}"],
)
async def test_missing_or_wrong_token_refused(
    make_proxy: MakeProxy, gateway: FakeGateway, authorization: str | None
) -> None:
    client = await make_proxy(token=SecretStr(LOCAL_TOKEN))
    headers = {} if authorization is None else {"Authorization": authorization}
    resp = await client.post(CHAT, json=chat_body(), headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_local_token"
    assert gateway.requests == 0


async def test_token_never_forwarded_configured_key_is(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(token=SecretStr(LOCAL_TOKEN))
    gateway.reply = lambda seen: _honest_stream()
    resp = await client.post(
        CHAT, json=chat_body(), headers={"Authorization": f"Bearer {LOCAL_TOKEN}"}
    )
    assert resp.status == 200
    assert sse_events(await resp.read())[-1] == "[DONE]"
    [seen] = gateway.seen
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert all(LOCAL_TOKEN not in value for value in seen.headers.values())
    assert LOCAL_TOKEN.encode() not in seen.raw_body
    assert MARKER.encode() not in seen.raw_body  # ciphertext only on the wire
    assert MARKER in seen.body["messages"][0]["content"]  # ...which the enclave can open


async def test_with_token_in_force_caller_key_is_never_used(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    # The token is shaped like a PPQ key: without the rule it would be forwarded as one.
    token = "sk-LocalTokenShapedLikeAKey0123"
    client = await make_proxy(token=SecretStr(token), api_key=None)
    resp = await client.post(CHAT, json=chat_body(), headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "missing_api_key"
    assert gateway.requests == 0


# --- Bad bodies: refused, and the server keeps serving ----------------------------------------


async def test_oversized_body_refused_declared_and_chunked(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(max_body_bytes=4096)
    big = b'{"model":"x","pad":"' + b"a" * 8192 + b'"}'
    declared = await client.post(CHAT, data=big, headers={"Content-Type": "application/json"})
    assert declared.status == 413

    async def chunks() -> Any:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    chunked = await client.post(CHAT, data=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status == 413
    assert gateway.requests == 0
    await _assert_served(client, gateway)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"model": "x",}',
        b"\xff\xfe{}",
        b"[1, 2]",
        b'"string"',
        b"",
        b'{"stream": NaN}',
        b"[" * 100_000,  # nesting bombs: RecursionError is not a ValueError
        b'{"a":' * 50_000,
        b'{"model":"private/kimi-k3","messages":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"model":"\\ud800","messages":[]}',  # lone surrogate, echoed in the error text
    ],
    ids=lambda raw: repr(raw[:24]),
)
async def test_malformed_or_non_object_json_is_400(
    make_proxy: MakeProxy, gateway: FakeGateway, raw: bytes
) -> None:
    client = await make_proxy()
    resp = await client.post(CHAT, data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["type"] == "invalid_request_error"
    assert gateway.requests == 0
    await _assert_served(client, gateway)


async def test_slow_sender_gets_408_while_others_are_served(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(client_read_timeout=0.5)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":'
    )
    await writer.drain()
    await _assert_served(client, gateway)  # the trickler does not block anyone
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=5)  # answered, then closed
    finally:
        writer.close()
        await writer.wait_closed()
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"408"
    assert gateway.requests == 1  # only the honest request


async def test_slow_headers_cut_and_oversized_headers_refused(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(client_read_timeout=0.5)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        await writer.drain()
        await _assert_served(client, gateway)
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # cut, never answered
    finally:
        writer.close()
        await writer.wait_closed()
    many = {f"X-Filler-{i}": "v" for i in range(100)}
    resp = await client.post(CHAT, json=chat_body(), headers=many)
    assert resp.status in (400, 431)
    huge = await client.post(CHAT, json=chat_body(), headers={"X-Big": "v" * 70_000})
    assert huge.status in (400, 431)
    assert gateway.requests == 1  # only the honest request


async def test_read_timeout_does_not_cut_long_streams(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    # client_read_timeout bounds how long a client may take to SEND; answers may take longer.
    client = await make_proxy(client_read_timeout=0.3, upstream_idle_timeout=5)
    honest = _honest_stream()
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=honest.frames, hang_after=1
    )
    resp = await client.post(CHAT, json=chat_body())
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")
    await asyncio.sleep(1.0)
    gateway.release_hang.set()
    assert sse_events(await resp.read())[-1] == "[DONE]"


# --- Gateway faults -------------------------------------------------------------------------


async def _stream(client: ProxyClient, **kwargs: Any) -> tuple[int, str, bytes]:
    resp = await client.post(CHAT, json=chat_body(), **kwargs)
    return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


@pytest.mark.parametrize(
    ("reply", "delivered"),
    [
        (Reply(content_type="text/event-stream", frames=[], tamper_frame=1), 1),
        (Reply(content_type="text/event-stream", frames=[], tamper_frame=0), 0),
        (Reply(content_type="text/event-stream", frames=[], truncate_last=True), 2),
    ],
    ids=["tampered-frame-1", "tampered-frame-0", "truncated-last-frame"],
)
async def test_broken_frames_end_in_sse_error_event(
    make_proxy: MakeProxy, gateway: FakeGateway, reply: Reply, delivered: int
) -> None:
    client = await make_proxy(**FAST)
    honest = _honest_stream()
    reply.frames = honest.frames
    gateway.reply = lambda seen: reply
    status, ctype, body = await _stream(client)
    events = sse_events(body)
    if delivered:
        assert status == 200
        assert ctype.startswith("text/event-stream")
        error = sse_error(body)
        assert error is not None and error["type"] == "ehbp_protocol_error"
        assert "[DONE]" not in events
        # Only frames before the broken one arrived; nothing after it.
        assert len(events) == delivered + 1
    else:  # nothing authenticated yet: headers were not sent, a clean JSON error is
        assert status == 502
        assert ctype.startswith("application/json")
        assert json.loads(body)["error"]["type"] == "ehbp_protocol_error"
    if reply.tamper_frame is not None:
        tampered_text = ["Hel", "lo!"][reply.tamper_frame]
        assert tampered_text.encode() not in body


@pytest.mark.parametrize("stream", [True, False])
async def test_nonce_stripped_from_200_is_502(
    make_proxy: MakeProxy, gateway: FakeGateway, stream: bool
) -> None:
    client = await make_proxy(**FAST)
    # Ciphertext-like body, the nonce header removed in transit.
    gateway.reply = lambda seen: Reply(
        plaintext=True, content_type="text/event-stream", frames=[os.urandom(200)]
    )
    resp = await client.post(CHAT, json=chat_body(stream=stream))
    assert resp.status == 502
    assert (await resp.json())["error"]["type"] == "ehbp_protocol_error"


@pytest.mark.parametrize("with_fake_nonce", [False, True])
async def test_forged_plaintext_200_never_shown(
    make_proxy: MakeProxy, gateway: FakeGateway, with_fake_nonce: bool
) -> None:
    client = await make_proxy(**FAST)
    forged = f'data: {{"choices":[{{"delta":{{"content":"{FORGED}"}}}}]}}\n\ndata: [DONE]\n\n'
    headers = {"Ehbp-Response-Nonce": os.urandom(32).hex()} if with_fake_nonce else {}
    gateway.reply = lambda seen: Reply(
        plaintext=True,
        content_type="text/event-stream",
        frames=[forged.encode()],
        headers=headers,
    )
    status, _, body = await _stream(client)
    assert FORGED.encode() not in body
    assert b"[DONE]" not in body
    # The first frame fails before headers are decided: a clean 502, never a 200.
    assert status == 502
    assert json.loads(body)["error"]["type"] == "ehbp_protocol_error"


@pytest.mark.parametrize("status", [401, 402, 429, 500])
async def test_plaintext_gateway_errors_keep_status_not_content(
    make_proxy: MakeProxy, gateway: FakeGateway, status: int
) -> None:
    client = await make_proxy(**FAST)
    headers = {"Retry-After": "7"} if status == 429 else {}
    gateway.reply = lambda seen: Reply(
        status=status,
        plaintext=True,
        frames=[b'{"error":{"message":"gateway says no","type":"x"}}'],
        headers=headers,
    )
    resp = await client.post(CHAT, json=chat_body())
    assert resp.status == status
    body = await resp.json()
    assert set(body) == {"error"}  # an error, never a completion
    assert "not from the enclave" in body["error"]["message"]
    if status == 429:
        assert resp.headers["Retry-After"] == "7"
    if status == 401:
        assert body["error"]["type"] == "authentication_error"


async def test_hanging_gateway_gives_504_and_is_cancelled(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(**FAST)
    gateway.reply = lambda seen: Reply(delay_headers=30, frames=[b"x"])
    resp = await client.post(CHAT, json=chat_body())
    assert resp.status == 504
    assert (await resp.json())["error"]["type"] == "gateway_timeout"
    # The proxy dropped the upstream request rather than leaving it running.
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), timeout=5)


async def test_gateway_stalling_mid_stream_gives_sse_timeout_event(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(**FAST)
    honest = _honest_stream()
    gateway.reply = lambda seen: Reply(
        content_type="text/event-stream", frames=honest.frames, hang_after=1
    )
    status, _, body = await _stream(client)
    assert status == 200
    error = sse_error(body)
    assert error is not None and error["type"] == "gateway_timeout"
    assert len(sse_events(body)) == 2  # the one authentic chunk, then the error
    await asyncio.wait_for(gateway.upstream_cancelled.wait(), timeout=5)


async def test_refused_connection_is_502(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    client = await make_proxy(api_base=f"http://127.0.0.1:{closed_port()}", **FAST)
    resp = await client.post(CHAT, json=chat_body())
    assert resp.status == 502
    assert (await resp.json())["error"]["type"] == "gateway_unreachable"


async def test_connect_timeout_is_504(make_proxy: MakeProxy) -> None:
    with stalled_listener() as url:
        client = await make_proxy(
            api_base=url,
            upstream_connect_timeout=0.3,
            upstream_first_byte_timeout=10,
            upstream_idle_timeout=10,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        resp = await client.post(CHAT, json=chat_body())
        elapsed = loop.time() - started
    assert resp.status == 504
    assert (await resp.json())["error"]["type"] == "gateway_timeout"
    assert elapsed < 5  # the connect timeout fired, not the 10 s first-byte one


async def test_mid_stream_disconnect_gives_sse_error_event(make_proxy: MakeProxy) -> None:
    async with raw_gateway(then="abort") as url:
        client = await make_proxy(api_base=url, **FAST)
        status, _, body = await _stream(client)
    # Half a frame, then the connection drops: nothing was authenticated, so no 200.
    assert status == 502
    assert json.loads(body)["error"]["type"] in ("gateway_unreachable", "ehbp_protocol_error")


async def test_oversized_frame_header_fails_at_once(make_proxy: MakeProxy) -> None:
    # A frame claiming 2 GiB: refused on its 4-byte header, not buffered, not waited for.
    async with raw_gateway((0x7FFFFFFF).to_bytes(4, "big") + b"x" * 10, then="hang") as url:
        client = await make_proxy(
            api_base=url, upstream_first_byte_timeout=10, upstream_idle_timeout=10
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, _, body = await _stream(client)
        elapsed = loop.time() - started
    assert elapsed < 5  # not the 10 s idle timeout
    assert status == 502
    assert json.loads(body)["error"]["type"] == "ehbp_protocol_error"


async def test_non_streaming_failure_after_headers_is_an_incomplete_body(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(**FAST)
    gateway.reply = lambda seen: Reply(
        frames=[b'{"id":"c1","choices":[{"message":', b'{"content":"secret answer"}}]}'],
        tamper_frame=1,
    )
    resp = await client.post(CHAT, json=chat_body(stream=False))
    assert resp.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()  # the body is visibly cut, never a short "complete" JSON
