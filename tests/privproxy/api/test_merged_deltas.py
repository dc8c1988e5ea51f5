"""A burst (several chat chunks in one read) is translated with its consecutive text, and the
argument pieces of one tool call, merged into one delta event (`chat_stream.merged_deltas`).

The merged translation must be the translation chunk by chunk with fewer delta events: the
same final answer, a valid event sequence, the same concatenated delta text.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.translate.chat_stream import (
    Delta,
    Finish,
    Piece,
    TextDelta,
    ToolCallDelta,
    Usage,
    chunk_deltas,
    merged_deltas,
)
from privproxy.api.translate.errors import UnexpectedAnswerError
from privproxy.api.translate.messages_errors import MessagesAnswerError
from privproxy.api.translate.messages_response import MessagesStream
from privproxy.api.translate.responses_events import Event, ResponseBuilder
from privproxy.api.translate.responses_request import to_chat
from tests.privproxy.api import messages_events
from tests.privproxy.api.responses_checks import check_events, sse_events
from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, chunk, sse_reply


def _tool_chunk(index: int, arguments: str, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return {"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}


def _finish(reason: str, stop: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": reason}
    if stop is not None:
        choice["stop_reason"] = stop
    return {"choices": [choice]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


# -- merged_deltas itself ----------------------------------------------------------------------


def test_consecutive_text_becomes_one_piece() -> None:
    pieces: list[Piece] = ["Hel", chunk("lo ", "m"), "world", _finish("stop"), USAGE]
    assert merged_deltas(pieces) == ["Hello world", Finish("stop"), Usage(7, 3)]


def test_argument_pieces_of_one_call_become_one_delta() -> None:
    pieces: list[Piece] = [
        "Let me check.",
        _tool_chunk(0, "", "get_weather"),
        _tool_chunk(0, '{"city":'),
        _tool_chunk(0, '"Paris"}'),
        _tool_chunk(1, "{", "other"),  # another call: a delta of its own
        _tool_chunk(1, "}"),
        _finish("tool_calls"),
    ]
    assert merged_deltas(pieces) == [
        "Let me check.",
        ToolCallDelta(0, "call_0", "get_weather", '{"city":"Paris"}'),
        ToolCallDelta(1, "call_1", "other", "{}"),
        Finish("tool_calls"),
    ]


def test_order_is_kept_across_other_deltas() -> None:
    pieces: list[Piece] = ["a", USAGE, "b", _tool_chunk(0, "{", "f"), "c", _tool_chunk(0, "}")]
    assert merged_deltas(pieces) == [
        "a",
        Usage(7, 3),
        "b",
        ToolCallDelta(0, "call_0", "f", "{"),
        "c",
        ToolCallDelta(0, None, None, "}"),
    ]


def test_a_finish_keeps_its_stop_string() -> None:
    (finish,) = merged_deltas([_finish("stop", "END")])
    assert isinstance(finish, Finish) and finish.stop == "END"


# -- merged translation == chunk-by-chunk translation -------------------------------------------

_TEXT = st.text(min_size=0, max_size=6)
_PIECE = st.one_of(
    _TEXT.filter(bool),  # a text-only chunk as `next_pieces` gives it
    _TEXT.map(lambda t: chunk(t, "m")),
    st.builds(
        _tool_chunk,
        st.integers(0, 2),
        _TEXT,
        st.one_of(st.none(), st.sampled_from(["f", "g"])),
    ),
    st.sampled_from([_finish("stop"), _finish("length"), _finish("stop", "END"), USAGE]),
)
# A stream cut into reads: each inner list is one read's pieces.
_READS = st.lists(st.lists(_PIECE, min_size=1, max_size=8), min_size=1, max_size=6)


def _as_deltas(piece: Piece | Delta) -> list[Delta]:
    if isinstance(piece, str):
        return [TextDelta(piece)]
    if isinstance(piece, dict):
        return chunk_deltas(piece)
    return [piece]


def _responses(reads: list[list[Piece]], merge: bool) -> list[Event] | None:
    counter = itertools.count()
    builder = ResponseBuilder(
        to_chat({"model": "m", "input": "x"}),
        response_id="resp_1",
        created_at=1,
        new_id=lambda prefix: f"{prefix}_{next(counter)}",
    )
    events = builder.start()
    try:
        for read in reads:
            for piece in merged_deltas(read) if merge else read:
                for delta in _as_deltas(piece):
                    events += builder.feed(delta)
    except UnexpectedAnswerError:
        return None
    events += builder.finish()
    assert sse_events(builder.encode(events)) == events
    return events


def _deltas_of(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e["type"] == kind]


@settings(max_examples=300, deadline=None)
@given(_READS)
def test_merged_responses_stream_is_the_same_answer(reads: list[list[Piece]]) -> None:
    each, merged = _responses(reads, merge=False), _responses(reads, merge=True)
    if each is None or merged is None:
        assert each is None and merged is None  # the same streams are refused
        return
    final = check_events(merged)
    assert final == check_events(each)
    for kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
        few, many = _deltas_of(merged, kind), _deltas_of(each, kind)
        assert len(few) <= len(many)
        assert "".join(e["delta"] for e in few) == "".join(e["delta"] for e in many)


def _messages(reads: list[list[Piece]], merge: bool) -> tuple[list[Event], Any] | None:
    stream = MessagesStream(message_id="msg_1", model="m", stop_sequences=("END",))
    events = stream.start()
    try:
        for read in reads:
            if not merge:
                for piece in read:
                    events += (
                        stream.feed(piece)
                        if isinstance(piece, dict)
                        else stream.apply([TextDelta(piece)])
                    )
                continue
            for merged in merged_deltas(read):
                events += stream.apply(_as_deltas(merged))
        events += stream.finish()
        return events, stream.message()
    except MessagesAnswerError:
        return None


@settings(max_examples=300, deadline=None)
@given(_READS)
def test_merged_messages_stream_is_the_same_answer(reads: list[list[Piece]]) -> None:
    each, merged = _messages(reads, merge=False), _messages(reads, merge=True)
    if each is None or merged is None:
        assert each is None and merged is None
        return
    assert merged[1] == each[1]  # the whole message, stop reason and sequence included
    assert messages_events.check_events(merged[0]) == messages_events.check_events(each[0])
    for kind in ("text_delta", "input_json_delta"):
        key = "text" if kind == "text_delta" else "partial_json"
        few = [e["delta"][key] for e in merged[0] if e.get("delta", {}).get("type") == kind]
        many = [e["delta"][key] for e in each[0] if e.get("delta", {}).get("type") == kind]
        assert len(few) <= len(many) and "".join(few) == "".join(many)


# -- through the proxy: a burst is one delta per text run and per call --------------------------

_BURST = [
    chunk("Let ", "m"),
    chunk("me ", "m"),
    chunk("check.", "m"),
    _tool_chunk(0, "", "get_weather"),
    _tool_chunk(0, '{"city":'),
    _tool_chunk(0, '"Paris"}'),
    _finish("tool_calls"),
    USAGE,
]


async def test_responses_burst_is_one_delta_per_run(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: sse_reply(_BURST, per_frame=len(_BURST) + 1)  # one read
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    body = {"model": "kimi-k3", "input": "x", "tools": tools, "stream": True}
    resp = await proxy.post("/v1/responses", json=body)
    assert resp.status == 200
    events = sse_events(await resp.read())
    response = check_events(events)
    texts = _deltas_of(events, "response.output_text.delta")
    args = _deltas_of(events, "response.function_call_arguments.delta")
    assert [e["delta"] for e in texts] == ["Let me check."]
    assert [e["delta"] for e in args] == ['{"city":"Paris"}']
    message, call = response["output"]
    assert message["content"][0]["text"] == "Let me check."
    assert call["arguments"] == '{"city":"Paris"}'


async def test_messages_burst_is_one_delta_per_run(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: sse_reply(_BURST, per_frame=len(_BURST) + 1)  # one read
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    body = {
        "model": "private/kimi-k3",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x"}],
        "tools": tools,
        "stream": True,
    }
    resp = await proxy.post("/v1/messages", json=body)
    assert resp.status == 200
    events = [e for _, e in _sse(await resp.text())]
    assembled = messages_events.check_events(events)
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == [
        {"type": "text_delta", "text": "Let me check."},
        {"type": "input_json_delta", "partial_json": '{"city":"Paris"}'},
    ]
    assert assembled.stop_reason == "tool_use"


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out
