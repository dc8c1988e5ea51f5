"""`/v1/responses` over HTTP against the fake EHBP gateway: only ciphertext leaves, the
translated chat request is what the enclave sees, answers and failures come back in the
Responses API's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privproxy.api.responses import DROPPED_TOOLS_HEADER
from privproxy.server.receive import Received
from tests.privproxy.api.responses_checks import check_events, sse_events
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import (
    FakeGateway,
    Reply,
    Seen,
    chat_completion,
    chunk,
    json_reply,
    sse_reply,
)

PROMPT = "a secret prompt that must only travel sealed"


def _tool_chunk(**fn: str) -> dict[str, Any]:
    call: dict[str, Any] = {"index": 0, "function": fn}
    if "name" in fn:
        call.update(id="call_1", type="function")
    return {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}


def _finish(reason: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}


async def _stream(proxy: ProxyClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    resp = await proxy.post("/v1/responses", json={**body, "stream": True})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return sse_events(await resp.read())


async def test_non_stream_reaches_the_gateway_only_sealed(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("hi there", seen.body["model"]))
    resp = await proxy.post(
        "/v1/responses",
        json={"model": "private/kimi-k3", "input": PROMPT, "instructions": "be kind"},
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "hi there"
    assert body["usage"] == {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 5,
    }
    assert body["store"] is False
    seen = gateway.seen[-1]
    assert PROMPT.encode() not in seen.raw_body  # ciphertext on the wire...
    assert seen.body["messages"] == [  # ...and the chat request inside it
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": PROMPT},
    ]
    assert seen.body["model"] == "kimi-k3"
    assert seen.headers["X-Private-Model"] == "private/kimi-k3"
    assert "Ehbp-Encapsulated-Key" in seen.headers


async def test_stream_text_and_tool_call_events(proxy: ProxyClient, gateway: FakeGateway) -> None:
    events = [
        chunk("Let me ", "m"),
        chunk("check.", "m"),
        _tool_chunk(name="get_weather", arguments=""),
        _tool_chunk(arguments='{"city":'),
        _tool_chunk(arguments='"Paris"}'),
        _finish("tool_calls"),
        USAGE,
    ]
    gateway.reply = lambda seen: sse_reply(events, split_event=True)
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    got = await _stream(proxy, {"model": "kimi-k3", "input": PROMPT, "tools": tools})
    response = check_events(got)
    message, call = response["output"]
    assert message["content"][0]["text"] == "Let me check."
    assert call == {
        "type": "function_call",
        "id": call["id"],
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "status": "completed",
    }
    assert response["usage"]["total_tokens"] == 10
    sent = gateway.seen[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["tools"][0]["function"]["name"] == "get_weather"


async def test_hosted_tools_are_dropped_and_named(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "m"))
    tools = [
        {"type": "web_search", "external_web_access": False},
        {"type": "function", "name": "f"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
    ]
    resp = await proxy.post("/v1/responses", json={"input": "x", "tools": tools})
    assert resp.status == 200
    assert resp.headers[DROPPED_TOOLS_HEADER] == "web_search,file_search"
    sent = gateway.seen[-1].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["f"]
    assert "web_search" not in json.dumps(sent) and "vs_1" not in json.dumps(sent)


async def test_malformed_request_is_a_400_naming_the_field(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    resp = await proxy.post("/v1/responses", json={"input": [{"role": "robot", "content": "x"}]})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["param"] == "input[0].role" and err["type"] == "invalid_request_error"
    bad_json = await proxy.post(
        "/v1/responses", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    assert gateway.requests == 0


async def test_previous_response_id_without_store_is_a_clear_400(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    resp = await proxy.post("/v1/responses", json={"input": "x", "previous_response_id": "resp_1"})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["param"] == "previous_response_id"
    assert "--responses-store-seconds" in err["message"]
    missing = await proxy.get("/v1/responses/resp_1")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    assert gateway.requests == 0


async def test_enclave_error_keeps_status_and_code(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    err = {
        "error": {
            "message": "prompt too long",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    gateway.reply = lambda seen: json_reply(err, status=400)
    resp = await proxy.post("/v1/responses", json={"input": "x", "stream": True})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "context_length_exceeded"


async def test_failure_after_headers_is_response_failed(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    def tampered(seen: Seen) -> Reply:
        reply = sse_reply([chunk("a", "m"), chunk("b", "m"), _finish("stop")])
        reply.tamper_frame = 1
        return reply

    gateway.reply = tampered
    got = await _stream(proxy, {"input": "x"})
    response = check_events(got)
    assert got[-1]["type"] == "response.failed"
    assert response["error"]["code"].startswith("ehbp")
    assert not any(e.get("delta") == "b" for e in got)  # nothing unauthenticated relayed


async def test_stream_cut_before_the_end_marker_fails(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    def cut(seen: Seen) -> Reply:
        reply = sse_reply([chunk("a", "m"), _finish("stop")])
        reply.frames = reply.frames[:-1]  # whole frames, but no `[DONE]`
        return reply

    gateway.reply = cut
    got = await _stream(proxy, {"input": "x"})
    check_events(got)
    assert got[-1]["type"] == "response.failed"


async def test_store_keeps_answers_in_memory_and_continues_them(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    proxy = await make_proxy(api_key=None, responses_store_seconds=60)
    gateway.reply = lambda seen: json_reply(chat_completion(f"answer {len(gateway.seen)}", "m"))
    alice = {"Authorization": "Bearer sk-alice-0123456789"}
    first = await (
        await proxy.post("/v1/responses", json={"input": "one", "instructions": "i"}, headers=alice)
    ).json()
    assert first["store"] is True
    got = await proxy.get(f"/v1/responses/{first['id']}", headers=alice)
    assert got.status == 200 and (await got.json()) == first
    # another PPQ key cannot read or continue it
    bob = {"Authorization": "Bearer sk-bob-0123456789ab"}
    assert (await proxy.get(f"/v1/responses/{first['id']}", headers=bob)).status == 404
    refused = await proxy.post(
        "/v1/responses", json={"input": "x", "previous_response_id": first["id"]}, headers=bob
    )
    assert refused.status == 400
    second = await proxy.post(
        "/v1/responses", json={"input": "two", "previous_response_id": first["id"]}, headers=alice
    )
    assert second.status == 200
    assert gateway.seen[-1].body["messages"] == [  # instructions are not carried over
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "two"},
    ]
    # store: false is honoured
    kept_not = await (
        await proxy.post("/v1/responses", json={"input": "x", "store": False}, headers=alice)
    ).json()
    assert kept_not["store"] is False
    assert (await proxy.get(f"/v1/responses/{kept_not['id']}", headers=alice)).status == 404


async def test_dropped_tool_names_from_the_client_cannot_inject_headers(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", "m"))
    tools = [
        {
            "type": "namespace",
            "name": "ns\r\nX-Evil: 1",
            "tools": [{"type": "custom", "name": "c"}],
        },
        {"type": "web_search"},
    ]
    resp = await proxy.post("/v1/responses", json={"input": "x", "tools": tools})
    assert resp.status == 200
    assert "X-Evil" not in resp.headers
    assert resp.headers[DROPPED_TOOLS_HEADER] == "ns??X-Evil:?1.custom,web_search"


async def _storing_a_lone_surrogate(make_proxy: MakeProxy, gateway: FakeGateway) -> ProxyClient:
    """A proxy that keeps responses, whose enclave answers a lone-surrogate escape."""
    proxy = await make_proxy(responses_store_seconds=60)
    gateway.reply = lambda seen: Reply(
        frames=[b'{"choices":[{"index":0,"message":{"content":"\\ud800"},"finish_reason":"stop"}]}']
    )
    return proxy


async def test_store_keeps_an_answer_with_a_lone_surrogate(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    proxy = await _storing_a_lone_surrogate(make_proxy, gateway)
    resp = await proxy.post("/v1/responses", json={"input": "x"})
    assert resp.status == 200
    body = await resp.json()
    assert body["output"][0]["content"][0]["text"] == "\ud800"
    again = await proxy.get(f"/v1/responses/{body['id']}")
    assert again.status == 200


async def test_continuing_a_stored_lone_surrogate_is_refused(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    # The stored answer's strings are not in the new request's text: the chat body is
    # encoded as without it, so the lone surrogate is refused as any other.
    proxy = await _storing_a_lone_surrogate(make_proxy, gateway)
    first = await (await proxy.post("/v1/responses", json={"input": "x"})).json()
    resp = await proxy.post(
        "/v1/responses", json={"input": "more", "previous_response_id": first["id"]}
    )
    assert resp.status == 400
    assert "invalid Unicode escapes" in (await resp.json())["error"]["message"]


async def test_non_ascii_text_reaches_the_enclave_unchanged(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    # Sent as agents send it (UTF-8, not escaped): the chat body is then written with its
    # few non-ASCII characters escaped (`receive.encode_json`), the same text inside.
    gateway.reply = lambda seen: json_reply(chat_completion("ok", seen.body["model"]))
    text = 'Résumé — naïve café ✓ 🙂 \u2028 中文 "q" \\ ' + "plain words " * 400
    raw = json.dumps({"input": [{"role": "user", "content": text}]}, ensure_ascii=False)
    assert Received({}, raw, None, len(raw.encode())).escape_non_ascii()
    resp = await proxy.post(
        "/v1/responses", data=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    assert gateway.seen[-1].body["messages"] == [{"role": "user", "content": text}]


@pytest.mark.parametrize("stdlib", [False, True], ids=["read-by-orjson", "read-by-stdlib"])
async def test_a_large_request_s_tools_are_echoed_in_one_line_of_json(
    proxy: ProxyClient, gateway: FakeGateway, stdlib: bool
) -> None:
    # An agent-sized request: the final snapshot carries its tools as one piece of JSON text,
    # the same value as the tools sent: orjson's when orjson read the body, else (an `e+` in
    # it sends the body to the stdlib decoder) the client's own text of them.
    tools = [
        {"type": "function", "name": f"tool_{i}", "description": "d" * 500, "parameters": {}}
        for i in range(10)
    ]
    if stdlib:
        tools[0]["description"] = "1e+5 is a number"
    gateway.reply = lambda seen: sse_reply([chunk("hi", "m"), _finish("stop"), USAGE])
    body = {"model": "private/kimi-k3", "input": "x", "tools": tools, "stream": True}
    text = json.dumps(body)  # ", " and ": ": not how privproxy would write them
    resp = await proxy.post(
        "/v1/responses", data=text, headers={"Content-Type": "application/json"}
    )
    raw = await resp.read()
    spelled = json.dumps(tools) if stdlib else json.dumps(tools, separators=(",", ":"))
    assert spelled.encode() in raw
    events = sse_events(raw)
    final = check_events(events)
    assert final["tools"] == tools
    assert events[0]["response"]["tools"] == []  # not in the first snapshots
