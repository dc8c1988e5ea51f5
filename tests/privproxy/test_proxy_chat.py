"""`POST /v1/chat/completions` through a fake gateway that really does EHBP.

Contract: docs/protocol.md §1.3 and §4.3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privproxy.server.app_keys import CATALOG_KEY
from tests.privproxy.conftest import API_KEY, MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import (
    FakeGateway,
    Reply,
    chat_completion,
    chunk,
    json_reply,
    sse_reply,
)

MESSAGES = [{"role": "user", "content": "Hello"}]


async def test_non_stream_roundtrip_and_wire_headers(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    answer = chat_completion("Hi there", "kimi-k3")
    gateway.reply = lambda seen: json_reply(answer, frames=3)
    resp = await proxy.post(
        "/v1/chat/completions",
        json={"model": "private/kimi-k3", "messages": MESSAGES},
        headers={"Authorization": "Bearer sk-caller-ignored-0000"},
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.headers.get("Cache-Control") is None
    assert await resp.json() == answer

    (seen,) = gateway.seen
    h = seen.headers
    assert h["Authorization"] == f"Bearer {API_KEY}"  # the configured key, not the caller's
    assert h["X-Private-Model"] == "private/kimi-k3"
    assert h["x-query-source"] == "api"
    assert h["X-Tinfoil-Enclave-Url"] == "https://enclave.test"
    assert h["Content-Type"] == "application/json"
    assert h["Accept-Encoding"] == "identity"
    assert int(h["Content-Length"]) == len(seen.raw_body)
    assert "Transfer-Encoding" not in h
    assert h["Ehbp-Encapsulated-Key"] == seen.enc.hex()
    assert seen.body == {"model": "kimi-k3", "messages": MESSAGES}
    # Compact JSON, insertion order kept (docs/protocol.md §1.3).
    assert b'"model":"kimi-k3"' not in seen.raw_body


@pytest.mark.parametrize(
    ("sent", "header", "enclave_id"),
    [
        ("private/gpt-oss-120b", "private/gpt-oss-120b", "gpt-oss-120b"),
        ("gpt-oss-120b", "private/gpt-oss-120b", "gpt-oss-120b"),
        (None, "private/kimi-k3", "kimi-k3"),
        ("", "private/kimi-k3", "kimi-k3"),
    ],
)
async def test_model_forms(
    proxy: ProxyClient, gateway: FakeGateway, sent: str | None, header: str, enclave_id: str
) -> None:
    await proxy.app[CATALOG_KEY].refresh()
    body: dict[str, Any] = {"messages": MESSAGES}
    if sent is not None:
        body["model"] = sent
    resp = await proxy.post("/v1/chat/completions", json=body)
    assert resp.status == 200
    assert gateway.seen[-1].headers["X-Private-Model"] == header
    assert gateway.seen[-1].body["model"] == enclave_id


async def test_unknown_model_against_known_catalog(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    assert (await proxy.app[CATALOG_KEY].refresh()).known
    resp = await proxy.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["type"] == "invalid_request_error"
    # Node's message, then (gpt-4o being an agent's default name) how to choose a model.
    assert err["message"].startswith(
        "Unknown model: gpt-4o. Available: private/kimi-k3, private/gpt-oss-120b. "
    )
    assert "--model-alias" in err["message"]
    assert gateway.requests == 0


async def test_any_model_accepted_with_fallback_only(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    gateway.catalog_status = 500
    client = await make_proxy()
    assert not (await client.app[CATALOG_KEY].refresh()).known
    gateway.reply = lambda seen: json_reply(
        {"error": {"message": "The model does not exist.", "type": "invalid_request_error"}},
        status=404,
    )
    resp = await client.post("/v1/chat/completions", json={"model": "new-model-9", "messages": []})
    # The enclave's own (encrypted, authenticated) 404 comes back with its status.
    assert resp.status == 404
    assert (await resp.json())["error"]["message"] == "The model does not exist."
    assert gateway.seen[-1].headers["X-Private-Model"] == "private/new-model-9"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Request body is not valid JSON"),
        (b"", "Request body is not valid JSON"),
        (b"\xff\xfe", "Request body is not valid JSON"),
        (b'{"messages": [], "temperature": NaN}', "Request body is not valid JSON"),
        (b"[1, 2]", "Request body must be a JSON object"),
        (b"null", "Request body must be a JSON object"),
        (b'{"model": 7}', "'model' must be a string"),
        (b'{"model": "bad model\\r\\nX: y"}', "Unknown model: bad model\r\nX: y. Available: "),
        (b'{"model": "kimi-k3", "s": "\\ud800"}', "Request body contains invalid Unicode escapes"),
    ],
)
async def test_bad_bodies_are_400(
    proxy: ProxyClient, gateway: FakeGateway, body: bytes, message: str
) -> None:
    resp = await proxy.post(
        "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["type"] == "invalid_request_error"
    assert err["message"].startswith(message)
    assert gateway.requests == 0


async def test_body_limit_is_413(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    client = await make_proxy(max_body_bytes=1000)
    resp = await client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x" * 2000}]}
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["type"] == "invalid_request_error"
    assert gateway.requests == 0


async def test_caller_key_used_when_none_configured(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    client = await make_proxy(api_key=None)
    resp = await client.post(
        "/v1/chat/completions",
        json={"messages": MESSAGES},
        headers={"Authorization": "Bearer sk-callerKey_0123456789"},
    )
    assert resp.status == 200
    assert gateway.seen[-1].headers["Authorization"] == "Bearer sk-callerKey_0123456789"


@pytest.mark.parametrize(
    "auth", [None, "Bearer not-a-ppq-key", "Basic sk-abcdefghijk", "Bearer sk-"]
)
async def test_no_usable_key_is_401(
    make_proxy: MakeProxy, gateway: FakeGateway, auth: str | None
) -> None:
    client = await make_proxy(api_key=None)
    headers = {"Authorization": auth} if auth else {}
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES}, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["type"] == "authentication_error"
    assert gateway.requests == 0


async def test_stream_split_across_frames(proxy: ProxyClient, gateway: FakeGateway) -> None:
    events = [chunk("Hel", "kimi-k3"), chunk("lo", "kimi-k3"), chunk("", "kimi-k3", finish="stop")]
    reply = sse_reply(events, split_event=True)
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
    assert resp.status == 200
    assert resp.content_type == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert "Content-Length" not in resp.headers
    assert await resp.read() == b"".join(reply.frames)
    assert gateway.seen[-1].body["stream"] is True


async def test_stream_is_relayed_incrementally(proxy: ProxyClient, gateway: FakeGateway) -> None:
    events = [chunk("first", "kimi-k3"), chunk("second", "kimi-k3")]
    reply = sse_reply(events)
    reply.hang_after = 1  # the enclave stalls after the first frame
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
    first = await resp.content.readuntil(b"\n\n")
    # Arrived while the upstream is still open: nothing waits for the whole stream.
    assert first == reply.frames[0]
    gateway.release_hang.set()
    assert await resp.read() == b"".join(reply.frames[1:])


async def test_large_tool_request_passes_through(proxy: ProxyClient, gateway: FakeGateway) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{i}",
                "description": "Ünïcödé ✓ " + "d" * 300,
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                    "required": ["q"],
                },
            },
        }
        for i in range(100)
    ]
    body = {
        "model": "private/gpt-oss-120b",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "tool_3"}},
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 1234,
        "seed": 2**60 + 1,
        "temperature": 0.25,
    }
    raw = json.dumps(body).encode()
    assert len(raw) > 36 * 1024
    resp = await proxy.post(
        "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    expected = dict(body, model="gpt-oss-120b")
    assert gateway.seen[-1].body == expected
    assert list(gateway.seen[-1].body) == list(expected)  # key order kept


async def test_tampered_stream_ends_with_sse_error(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    reply = sse_reply([chunk("a", "m"), chunk("b", "m"), chunk("c", "m")])
    reply.tamper_frame = 1
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
    assert resp.status == 200
    text = (await resp.read()).decode()
    assert text.startswith(reply.frames[0].decode())
    assert reply.frames[2].decode() not in text  # nothing after the forged frame
    last = [line for line in text.split("\n") if line.startswith("data: ")][-1]
    error = json.loads(last.removeprefix("data: "))["error"]
    assert error["type"] == "ehbp_protocol_error"


async def test_truncated_stream_ends_with_sse_error(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    reply = sse_reply([chunk("a", "m"), chunk("b", "m")])
    reply.truncate_last = True
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES, "stream": True})
    text = (await resp.read()).decode()
    assert "[DONE]" not in text
    assert '"type":"ehbp_protocol_error"' in text


async def test_tampered_json_body_aborts_connection(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    import aiohttp

    reply = json_reply(chat_completion("secret answer", "m"), frames=5)
    reply.tamper_frame = 3
    reply.frame_delay = 0.05
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 200  # decided before the forged frame arrived
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_failure_before_first_json_frame_is_clean_502(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    reply = json_reply(chat_completion("secret answer", "m"), frames=2)
    reply.tamper_frame = 0
    gateway.reply = lambda seen: reply
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES})
    # Nothing was sent yet, so the client gets a real error status, not a cut 200.
    assert resp.status == 502
    body = await resp.json()
    assert body["error"]["type"] == "ehbp_protocol_error"
    assert "secret" not in json.dumps(body)


@pytest.mark.parametrize(
    ("upstream", "relayed"),
    [
        ("text/event-stream; charset=utf-8", "text/event-stream; charset=utf-8"),
        ("application/problem+json", "application/problem+json"),
        ("text/html", "application/json"),
        ("application/javascript", "application/json"),
    ],
)
async def test_content_type_allowlist(
    proxy: ProxyClient, gateway: FakeGateway, upstream: str, relayed: str
) -> None:
    gateway.reply = lambda seen: Reply(content_type=upstream, frames=[b"{}"])
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.headers["Content-Type"] == relayed
    assert await resp.read() == b"{}"


@pytest.mark.parametrize(
    ("model_text", "escape", "status"),
    [
        ('"private/gpt-oss-120b"', "plain", 200),  # spliced into the client's bytes
        (None, "plain", 200),  # no model: the default is added as the last member
        ('"gpt-oss-120b"', "\\ud83d\\ude00", 200),  # a valid pair: re-encoded instead
        ('"gpt-oss-120b"', "\\ud800", 400),  # a lone surrogate: refused, large or small
    ],
)
async def test_large_body_model_rewrite(
    proxy: ProxyClient, gateway: FakeGateway, model_text: str | None, escape: str, status: int
) -> None:
    filler = "é" * 3000  # non-ASCII before `model`: byte and character offsets differ
    members = [f'"note" : "{filler}"', f'"text":"{escape}"', '"messages": [ ]']
    if model_text is not None:
        members.insert(2, f'"model" :\n {model_text}')
    raw = ("{ " + " ,\n".join(members) + " }").encode()
    resp = await proxy.post(
        "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == status
    if status != 200:
        assert (await resp.json())["error"]["type"] == "invalid_request_error"
        assert gateway.requests == 0
        return
    expected = json.loads(raw)
    enclave_id = "kimi-k3" if model_text is None else "gpt-oss-120b"
    expected["model"] = enclave_id
    assert gateway.seen[-1].body == expected
    assert list(gateway.seen[-1].body) == list(expected)
    assert gateway.seen[-1].headers["X-Private-Model"] == f"private/{enclave_id}"


async def test_multi_frame_body_sent_with_length(proxy: ProxyClient, gateway: FakeGateway) -> None:
    # > 64 KiB: several EHBP frames, sealed into one buffer and uploaded without a copy.
    text = "x" * (200 * 1024)
    resp = await proxy.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": text}]}
    )
    assert resp.status == 200
    (seen,) = gateway.seen
    assert seen.headers["Content-Type"] == "application/json"
    assert int(seen.headers["Content-Length"]) == len(seen.raw_body) > 200 * 1024
    assert "Transfer-Encoding" not in seen.headers
    assert seen.body["messages"][0]["content"] == text


@pytest.mark.parametrize("pad", [0, 5000])  # re-encode path, splice path
async def test_number_beyond_float_range_kept_as_sent(
    proxy: ProxyClient, gateway: FakeGateway, pad: int
) -> None:
    # Valid JSON that decodes to inf: relayed with the client's spelling, not a 500.
    raw = b'{"model":"kimi-k3","note":"' + b"p" * pad + b'","messages":[],"temperature":1e400}'
    resp = await proxy.post(
        "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    plaintext_seen = gateway.seen[-1].body
    assert plaintext_seen["temperature"] == float("inf")
    assert plaintext_seen["model"] == "kimi-k3"


async def test_number_beyond_float_range_with_duplicate_keys_is_400(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    raw = b'{"model":"kimi-k3","model":"kimi-k3","messages":[],"t":-1e999}'
    resp = await proxy.post(
        "/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["message"] == "Request body contains numbers out of range"
    assert gateway.requests == 0
