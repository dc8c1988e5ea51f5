"""Chat answers → Responses events (pure), checked by `responses_checks.check_events`.

The property tests run every kind of chat stream the simulator produces (text answers, tool
calls, tool results, scripted texts) and arbitrary chat delta sequences through the builder.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.translate.chat_stream import (
    Delta,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    chunk_deltas,
    completion_deltas,
)
from privproxy.api.translate.errors import UnexpectedAnswerError
from privproxy.api.translate.responses_events import Event, ResponseBuilder
from privproxy.api.translate.responses_request import ChatRequest, FunctionName, to_chat
from privproxy.simulator import chat as sim
from tests.privproxy.api.responses_checks import check_events, sse_events


def _ids() -> Any:
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


def _builder(request: ChatRequest | None = None) -> ResponseBuilder:
    request = request or to_chat({"model": "m", "input": "x"})
    return ResponseBuilder(request, response_id="resp_1", created_at=1, new_id=_ids())


def _run(deltas: list[Delta], request: ChatRequest | None = None) -> list[Event]:
    builder = _builder(request)
    events = builder.start()
    for delta in deltas:
        events += builder.feed(delta)
    events += builder.finish()
    assert sse_events(builder.encode(events)) == events  # what goes on the wire
    return events


def _sim_chunks(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.split(b"\n\n"):
        if block.startswith(b"data: ") and block != b"data: [DONE]":
            out.append(json.loads(block[6:]))
    return out


_WORDS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
    min_size=0,
    max_size=30,
)
_TOOL = {
    "type": "function",
    "name": "lookup",
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["cmd", "n"],
    },
}


@st.composite
def _responses_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Responses requests covering the simulator's branches: echo, ask, tool result."""
    prompt = draw(_WORDS)
    ask = draw(st.sampled_from(["", "please use lookup ", "List the files here "]))
    items: list[dict[str, Any]] = [{"role": "user", "content": ask + prompt}]
    if draw(st.booleans()):
        items += [
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": draw(_WORDS)},
        ]
    body: dict[str, Any] = {"model": "private/kimi-k3", "input": items, "stream": True}
    if draw(st.booleans()):
        body["tools"] = [_TOOL]
        body["tool_choice"] = draw(st.sampled_from(["auto", "required", "none"]))
    return body


@settings(max_examples=200, deadline=None)
@given(_responses_requests(), st.none() | _WORDS)
def test_every_simulator_stream_translates_to_a_valid_sequence(
    body: dict[str, Any], scripted: str | None
) -> None:
    request = to_chat(body)
    answer = sim.decide(request.chat, (lambda _: scripted) if scripted is not None else None)
    raw = b"".join(sim.stream_events(request.chat, answer))
    deltas = [d for chunk in _sim_chunks(raw) for d in chunk_deltas(chunk)]
    response = check_events(_run(deltas, request))
    assert response["status"] == "completed"
    assert response["usage"]["total_tokens"] > 0
    (item,) = response["output"]
    if answer.tool_call is not None:
        assert item["type"] == "function_call"
        assert (item["name"], item["arguments"]) == (
            answer.tool_call.name,
            answer.tool_call.arguments,
        )
        assert item["call_id"] == answer.tool_call.id
    else:
        assert item["type"] == "message"
        assert item["content"][0]["text"] == answer.content
        assert "SIMULATED" in item["content"][0]["text"]
    # The whole (non-stream) answer gives the same output as the stream.
    whole = _builder(request)
    for delta in completion_deltas(sim.completion(request.chat, answer)):
        whole.feed(delta)
    whole.finish()
    assert whole.response["output"] == response["output"]
    assert whole.response["usage"] == response["usage"]


_DELTAS = st.lists(
    st.one_of(
        st.builds(TextDelta, _WORDS.filter(bool)),
        st.builds(ReasoningDelta, _WORDS.filter(bool)),
        st.builds(
            ToolCallDelta,
            st.integers(0, 2),
            st.none() | st.just("call_x"),
            st.none() | st.sampled_from(["f", "ns__g"]),
            _WORDS,
        ),
        st.builds(Usage, st.integers(0, 9), st.integers(0, 9)),
    ),
    max_size=25,
)


def _item_key(delta: Delta) -> int | str | None:
    if isinstance(delta, ToolCallDelta):
        return delta.index
    if isinstance(delta, TextDelta | ReasoningDelta):
        return type(delta).__name__
    return None


@settings(max_examples=300, deadline=None)
@given(_DELTAS, st.none() | st.sampled_from(["stop", "tool_calls", "length", "content_filter"]))
def test_any_delta_sequence_is_valid_or_refused_as_interleaved(
    deltas: list[Delta], finish: str | None
) -> None:
    request = to_chat(
        {
            "input": "x",
            "tools": [
                {"type": "function", "name": "f"},
                {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g"}]},
            ],
        }
    )
    if finish is not None:
        deltas = [*deltas, Finish(finish)]
    try:
        events = _run(deltas, request)
    except UnexpectedAnswerError:
        # Only a tool call continued after another item started is refused.
        keys = [_item_key(d) for d in deltas if _item_key(d) is not None]
        runs = [k for k, _ in itertools.groupby(keys) if isinstance(k, int)]
        assert len(runs) != len(set(runs))
        return
    response = check_events(events)
    expected = {None: "failed", "length": "incomplete", "content_filter": "incomplete"}
    assert response["status"] == expected.get(finish, "completed")
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    got = "".join(
        p["text"] for i in response["output"] if i["type"] == "message" for p in i["content"]
    )
    if finish is not None:
        assert got == text
    for item in response["output"]:
        if item["type"] == "function_call" and item["name"] == "g":
            assert item["namespace"] == "ns"  # flattened name mapped back


def test_length_finish_is_incomplete_with_reason() -> None:
    events = _run([TextDelta("abc"), Finish("length")])
    response = check_events(events)
    assert events[-1]["type"] == "response.incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"


def test_answer_without_finish_fails_and_drops_the_open_item() -> None:
    events = _run([TextDelta("partial")])
    response = check_events(events)
    assert events[-1]["type"] == "response.failed"
    assert response["output"] == [] and response["error"]["code"] == "unexpected_answer"


def test_fail_after_a_finished_item_keeps_it() -> None:
    builder = _builder()
    events = builder.start() + builder.feed(ReasoningDelta("hm")) + builder.feed(TextDelta("a"))
    events += builder.fail("gateway_timeout", "the gateway stopped")
    response = check_events(events)
    assert [i["type"] for i in response["output"]] == ["reasoning"]
    assert response["error"] == {"code": "gateway_timeout", "message": "the gateway stopped"}
    assert builder.finish() == [] and builder.feed(TextDelta("late")) == []


def test_usage_maps_to_responses_usage() -> None:
    chunk = {
        "choices": [],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    response = check_events(_run([TextDelta("x"), Finish("stop"), *chunk_deltas(chunk)]))
    assert response["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 3},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 14,
    }


def test_echoed_request_fields_and_store_flag() -> None:
    request = to_chat(
        {"model": "private/kimi-k3", "input": "x", "instructions": "i", "metadata": {"a": "b"}}
    )
    builder = ResponseBuilder(request, response_id="resp_9", created_at=5, store=True)
    builder.start()
    builder.feed(Finish("stop"))
    builder.finish()
    r = builder.response
    assert (r["id"], r["created_at"], r["model"], r["instructions"]) == (
        "resp_9",
        5,
        "private/kimi-k3",
        "i",
    )
    assert r["metadata"] == {"a": "b"} and r["store"] is True and r["output"] == []


@pytest.mark.parametrize(
    "chunk",
    [
        {"choices": "x"},
        {"choices": [{"index": 0, "delta": {"content": 5, "tool_calls": "no"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [7, {"function": "x"}]}}]},
        {"usage": [1]},
    ],
)
def test_odd_chunks_yield_nothing_harmful(chunk: dict[str, Any]) -> None:
    for delta in chunk_deltas(chunk):
        assert isinstance(delta, ToolCallDelta) and delta.arguments == ""


def test_function_name_unknown_to_the_request_is_kept_as_sent() -> None:
    deltas: list[Delta] = [ToolCallDelta(0, "c", "other", "{}"), Finish("tool_calls")]
    response = check_events(_run(deltas))
    assert response["output"][0]["name"] == "other"
    assert "namespace" not in response["output"][0]
    assert FunctionName("other") == FunctionName("other", None)


@pytest.mark.parametrize("tools", [0, 40])
def test_encode_writes_each_event_as_its_json(tools: int) -> None:
    """`ResponseBuilder.encode` (with its shortcuts for text deltas and large echoes) gives
    exactly the events, as server-sent events named by their type."""
    request = to_chat(
        {
            "input": "x",
            "instructions": "é\U0001f600",
            "tools": [
                {"type": "function", "name": f"f{i}", "description": "d" * 80} for i in range(tools)
            ],
        }
    )
    builder = ResponseBuilder(request, response_id="resp_1", created_at=1, new_id=_ids())
    events = builder.start()
    deltas: list[Delta] = [
        TextDelta('a "quoted" \\ \u2028 text'),
        TextDelta("\ud800"),
        Finish("stop"),
    ]
    for delta in deltas:
        events += builder.feed(delta)
    events += builder.finish()
    # (a lone surrogate is written as its JSON escape: the bytes stay UTF-8)
    assert sse_events(builder.encode(events)) == events
    assert builder.encode([]) == b""
