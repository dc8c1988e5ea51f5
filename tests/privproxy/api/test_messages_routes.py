"""`/v1/messages` against the fake gateway: what the enclave receives (and that the gateway
sees only ciphertext), the Anthropic error shape, and failures after the stream started."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privproxy.api import messages as messages_api
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import (
    FakeGateway,
    Reply,
    chat_completion,
    chunk,
    json_reply,
    sse_reply,
)

SECRET_PROMPT = "the launch code is 4711"
CLAUDE_CODE_LIKE: dict[str, Any] = {
    "model": "private/kimi-k3",
    "max_tokens": 32000,
    "system": [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": SECRET_PROMPT}]},
        {"role": "system", "content": "<reminder>"},
    ],
    "tools": [
        {
            "name": "Bash",
            "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
        {
            "name": "Later",
            "description": "Deferred",
            "input_schema": {"type": "object", "properties": {}},
            "defer_loading": True,
        },
    ],
    "thinking": {"type": "adaptive", "display": "omitted"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
    "output_config": {"effort": "medium"},
    "metadata": {"user_id": "user-hash-123"},
}
HEADERS = {"anthropic-version": "2023-06-01", "anthropic-beta": "a-2025,b-2026"}


async def test_translated_body_reaches_the_enclave_sealed(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("done", seen.body["model"]), frames=2)
    resp = await proxy.post("/v1/messages?beta=true", json=CLAUDE_CODE_LIKE, headers=HEADERS)
    assert resp.status == 200
    message = await resp.json()
    assert message["type"] == "message" and message["content"] == [{"type": "text", "text": "done"}]
    assert message["model"] == "private/kimi-k3" and message["stop_reason"] == "end_turn"
    seen = gateway.seen[-1]
    assert SECRET_PROMPT.encode() not in seen.raw_body  # the gateway saw ciphertext only
    assert seen.headers["X-Private-Model"] == "private/kimi-k3"
    assert seen.body == {
        "model": "kimi-k3",
        "messages": [
            {"role": "system", "content": "You are Claude Code.\n\nBe careful."},
            {"role": "user", "content": SECRET_PROMPT},
            {"role": "system", "content": "<reminder>"},
        ],
        "max_tokens": 32000,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Bash",
                    "parameters": CLAUDE_CODE_LIKE["tools"][0]["input_schema"],
                    "description": "Run a command",
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "Later",
                    "parameters": {"type": "object", "properties": {}},
                    "description": "Deferred",
                },
            },
        ],
        "reasoning_effort": "medium",  # kimi-k3 reasons; output_config.effort maps
    }
    # (the `gateway` fixture also fails the test if any body arrived as plaintext JSON)


async def test_stream_events_from_a_chat_stream(proxy: ProxyClient, gateway: FakeGateway) -> None:
    final = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    gateway.reply = lambda seen: sse_reply(
        [
            chunk("Hel", "kimi-k3"),
            chunk("lo", "kimi-k3"),
            chunk("", "kimi-k3", finish="stop"),
            final,
        ],
        split_event=True,
    )
    resp = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "stream": True})
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    events = _events(await resp.text())
    assert [name for name, _ in events] == [
        "message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert events[-2][1]["usage"]["output_tokens"] == 2
    assert events[-2][1]["usage"]["input_tokens"] == 9
    assert gateway.seen[-1].body["stream_options"] == {"include_usage": True}


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_tampered_frame_mid_stream_ends_with_an_error_event(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    def reply(seen: Any) -> Reply:
        r = sse_reply(
            [chunk(w, "kimi-k3") for w in ("a", "b", "c")] + [chunk("", "k", finish="stop")]
        )
        r.tamper_frame = 2
        return r

    gateway.reply = reply
    resp = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "stream": True})
    events = _events(await resp.text())
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "error"
    assert "message_stop" not in names
    texts = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    # Only authenticated frames are relayed: the tampered third one (and anything decrypted
    # in the same read as it) never is.
    assert texts in (["a"], ["a", "b"])
    assert events[-1][1]["type"] == "error" and events[-1][1]["error"]["type"] == "api_error"


async def test_stream_without_finish_is_reported_not_completed(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: sse_reply([chunk("partial", "kimi-k3")])
    resp = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "stream": True})
    names = [name for name, _ in _events(await resp.text())]
    assert names[-1] == "error" and "message_stop" not in names
    # Non-streaming (the enclave answered a stream anyway): an error, not a short message.
    resp = await proxy.post("/v1/messages", json=CLAUDE_CODE_LIKE)
    assert resp.status == 502
    assert (await resp.json())["type"] == "error"


async def test_errors_use_anthropic_shape_on_messages_routes_only(proxy: ProxyClient) -> None:
    bad = await proxy.post(
        "/v1/messages", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad.status == 400
    assert await bad.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Request body is not valid JSON"},
        "request_id": bad.headers["X-Request-Id"],
    }
    field = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "messages": []})
    assert field.status == 400
    assert (await field.json())["error"]["message"].startswith("messages:")
    unknown = await proxy.post("/v1/messages/batches", json={})
    assert unknown.status == 404 and (await unknown.json())["error"]["type"] == "not_found_error"
    other = await proxy.post("/v1/messagesX", json={})
    assert other.status == 404 and "type" not in await other.json()  # OpenAI shape elsewhere


async def test_enclave_error_status_keeps_status_in_anthropic_shape(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(
        {"error": {"message": "slow down", "type": "rate_limit"}}, status=429
    )
    resp = await proxy.post("/v1/messages", json=CLAUDE_CODE_LIKE)
    assert resp.status == 429
    body = await resp.json()
    assert body["error"] == {"type": "rate_limit_error", "message": "slow down"}


async def test_builtin_tools_dropped_and_named(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "kimi-k3"))
    tools = [*CLAUDE_CODE_LIKE["tools"], {"type": "web_search_20250305", "name": "web_search"}]
    resp = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "tools": tools})
    assert resp.status == 200
    assert resp.headers["X-Privproxy-Dropped-Tools"] == "web_search"
    assert [t["function"]["name"] for t in gateway.seen[-1].body["tools"]] == ["Bash", "Later"]


async def test_caller_key_in_x_api_key_is_used_without_a_configured_key(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "kimi-k3"))
    proxy = await make_proxy(api_key=None)
    key = "sk-caller-key-0123456789"
    resp = await proxy.post("/v1/messages", json=CLAUDE_CODE_LIKE, headers={"x-api-key": key})
    assert resp.status == 200
    assert gateway.seen[-1].headers["Authorization"] == f"Bearer {key}"
    missing = await proxy.post("/v1/messages", json=CLAUDE_CODE_LIKE, headers={"x-api-key": "x"})
    assert missing.status == 401
    assert (await missing.json())["error"]["type"] == "authentication_error"


async def test_local_token_in_x_api_key_is_never_forwarded(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    token = "sk-local-token-abcdefghijklmnop"  # shaped like a PPQ key on purpose
    proxy = await make_proxy(api_key=None, token=token, require_token=True)
    resp = await proxy.post("/v1/messages", json=CLAUDE_CODE_LIKE, headers={"x-api-key": token})
    assert resp.status == 401  # past the token guard, but no PPQ key to use
    assert (await resp.json())["error"]["type"] == "authentication_error"
    assert gateway.requests == 0


async def test_reasoning_only_reads_keep_the_stream_alive_with_pings(
    proxy: ProxyClient, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages_api, "PING_INTERVAL", 0.0)
    thinking = {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}

    def reply(seen: Any) -> Reply:
        r = sse_reply(
            [thinking, thinking, chunk("done", "kimi-k3"), chunk("", "kimi-k3", finish="stop")]
        )
        r.frame_delay = 0.05  # separate reads, so the reasoning arrives on its own
        return r

    gateway.reply = reply
    resp = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "stream": True})
    text = await resp.text()
    assert "hmm" not in text  # reasoning is not relayed
    names = [name for name, _ in _events(text)]
    assert names.count("ping") >= 2 and names[-1] == "message_stop"
    assert names.index("content_block_start") > names.index("ping", 2)  # a ping while it thought


async def test_dropped_tool_names_are_header_safe(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "kimi-k3"))
    tools = [{"type": "web_search_20250305", "name": "evil\r\nX-Injected: 1 ü"}]
    resp = await proxy.post("/v1/messages", json={**CLAUDE_CODE_LIKE, "tools": tools})
    assert resp.status == 200
    assert resp.headers["X-Privproxy-Dropped-Tools"] == "evil??X-Injected: 1 ?"
    assert "X-Injected" not in resp.headers
