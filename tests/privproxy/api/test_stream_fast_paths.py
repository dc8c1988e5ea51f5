"""The translated streams' fast paths give exactly what the general path gives.

* `sealed_chat._TextShape` (text-only chunks read by scanning only their text token) must
  agree with parsing each event whole and reading it with `chat_stream.plain_text`, for
  every text, and must never be fooled by events built to look like the learned shape.
* `StreamingResponseBuilder` (templates for a text answer's events) must write the bytes
  the general builder's events encode to, for any answer, and end in the same state.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.sealed_chat import _chunk, _events, _events_general, _TextShape
from privproxy.api.translate.chat_stream import (
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    chunk_deltas,
    plain_text,
)
from privproxy.api.translate.errors import UnexpectedAnswerError
from privproxy.api.translate.responses_events import Event, ResponseBuilder
from privproxy.api.translate.responses_request import to_chat
from privproxy.api.translate.responses_stream import StreamingResponseBuilder
from privproxy.api.translate.sse import encode_events
from privproxy.jsoncodec import utf8
from tests.privproxy.api.responses_checks import sse_events
from tests.privproxy.fake_gateway import chunk

_TEXTS = st.text(min_size=0, max_size=12)


def _event(obj: dict[str, Any], *, ascii_only: bool = True) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only)


def _read(shape: _TextShape, event: str) -> str | None:
    """What a translating stream reads from `event`: the shape's text, else plain_text."""
    text = shape.match(event)
    if text is not None:
        return text
    chunk = _chunk(event)
    piece = shape.learn(event, chunk)
    # A text-only chunk comes as its text, anything else as the parsed chunk.
    assert piece == (plain_text(chunk) if plain_text(chunk) is not None else chunk)
    return piece if isinstance(piece, str) else plain_text(piece)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=12), st.booleans())
def test_text_shape_agrees_with_parsing_whole(texts: list[str], ascii_only: bool) -> None:
    shape = _TextShape()
    for text in texts:
        event = _event(chunk(text, "kimi-k3"), ascii_only=ascii_only)
        if shape.match(event) is None:
            assert not text or not _learned(shape)  # once a shape is known, it is used
        assert _read(shape, event) == plain_text(_chunk(event))


def _learned(shape: _TextShape) -> bool:
    return shape.match(_event(chunk("probe", "kimi-k3"))) == "probe"


def test_a_stream_of_text_chunks_takes_the_fast_path() -> None:
    shape = _TextShape()
    events = [_event(chunk(f"word{i} ", "kimi-k3")) for i in range(5)]
    assert _read(shape, events[0]) == "word0 "
    assert [shape.match(e) for e in events[1:]] == [f"word{i} " for i in range(1, 5)]


def test_other_chunks_are_parsed_whole() -> None:
    shape = _TextShape()
    assert _read(shape, _event(chunk("hi", "kimi-k3"))) == "hi"
    finish = _event(chunk("bye", "kimi-k3", finish="stop"))
    assert shape.match(finish) is None  # same bytes around the text? no: finish differs
    assert chunk_deltas(_chunk(finish))[-1:]  # a Finish, read from the whole object
    assert shape.match(_event({"choices": [], "usage": {"prompt_tokens": 1}})) is None


def test_a_token_another_key_overrides_is_not_learned() -> None:
    # The first `content` is overridden by a later, differently spelled duplicate: its token
    # equals the text but is not what plain_text reads, so no shape is kept.
    event = '{"choices":[{"index":0,"delta":{"content":"hi","c\\u006fntent":"hi"}}]}'
    shape = _TextShape()
    assert _read(shape, event) == "hi"
    later = '{"choices":[{"index":0,"delta":{"content":"XX","c\\u006fntent":"hi"}}]}'
    assert shape.match(later) is None
    assert _read(shape, later) == "hi"


def test_an_ambiguous_token_is_not_learned() -> None:
    event = _event({"note": "hi", **chunk("hi", "m")})  # the text's token appears twice
    shape = _TextShape()
    assert _read(shape, event) == "hi"
    assert shape.match(_event({"note": "hi", **chunk("yo", "m")})) is None


_JUNK = st.text(alphabet='"\\,:{}[]0ua \n\x01é', max_size=10)


@settings(max_examples=500, deadline=None)
@given(_TEXTS.filter(bool), _JUNK)
def test_forged_middles_never_fool_the_shape(first: str, middle: str) -> None:
    shape = _TextShape()
    event = _event(chunk(first, "kimi-k3"))
    _read(shape, event)
    token = json.dumps(first)
    start = event.rindex(token)
    forged = event[:start] + middle + event[start + len(token) :]
    text = shape.match(forged)
    if text is not None:  # only when the forged event is a valid text-only chunk
        assert text == plain_text(_chunk(forged))


def _ids() -> Any:
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


_DELTA = st.one_of(
    _TEXTS.map(TextDelta),
    _TEXTS.map(ReasoningDelta),
    st.builds(
        ToolCallDelta,
        st.integers(0, 2),
        st.one_of(st.none(), st.just("call_x")),
        st.one_of(st.none(), st.sampled_from(["f", "ns__g", "h"])),
        _TEXTS,
    ),
)
_ECHO = st.fixed_dictionaries(
    {"model": st.just("m"), "input": st.just("x")},
    optional={
        "instructions": st.text(max_size=12),
        "metadata": st.dictionaries(st.text(max_size=4), st.text(max_size=6), max_size=2),
        "temperature": st.sampled_from([0, 0.5, 1]),
        "tools": st.just(
            [
                {"type": "function", "name": "f", "parameters": {"type": "object"}},
                {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g"}]},
                {"type": "web_search"},
            ]
        ),
    },
)


def _stream_both(
    body: dict[str, Any],
    deltas: list[Any],
    finish: str | None,
    *,
    store: bool = False,
    tools_json: str | None = None,
    exact_echo: bool = False,
) -> tuple[str, list[Event], dict[str, Any], dict[str, Any]] | None:
    """The streaming builder's text and the general builder's events for one answer, and
    both final responses (None when the general builder refuses the answer: interleaved
    tool calls)."""
    request = to_chat(body)
    fast = StreamingResponseBuilder(
        request,
        response_id="resp_1",
        created_at=1,
        store=store,
        new_id=_ids(),
        tools_json=tools_json,
        exact_echo=exact_echo,
    )
    slow = ResponseBuilder(request, response_id="resp_1", created_at=1, store=store, new_id=_ids())
    out, events = [fast.start_sse()], slow.start()
    try:
        for delta in deltas:
            events += slow.feed(delta)
            out.append(fast.delta_sse(delta))
    except UnexpectedAnswerError:
        return None
    if finish is not None:
        for builder in (fast, slow):
            builder.feed(Finish(finish))
            builder.feed(Usage(3, len(deltas)))
    out.append(fast.finish_sse())
    events += slow.finish()
    return "".join(out), events, fast.response, slow.response


@settings(max_examples=400, deadline=None)
@given(
    _ECHO,
    st.lists(_DELTA, max_size=8),
    st.sampled_from([None, "stop", "length", "content_filter", "tool_calls"]),
    st.booleans(),
    st.booleans(),
)
def test_streaming_builder_writes_what_the_general_encoder_writes(
    body: dict[str, Any], deltas: list[Any], finish: str | None, store: bool, exact: bool
) -> None:
    # Templates for the text answer's events, the general path for everything else, any
    # mix within one answer: the same bytes and the same final response object, with the
    # echoed request fields written by orjson (a request it read) or by the stdlib.
    both = _stream_both(body, deltas, finish, store=store, exact_echo=exact)
    if both is None:
        return
    text, events, fast_response, slow_response = both
    assert utf8(text) == encode_events(events)
    assert fast_response == slow_response


def test_a_text_answer_takes_the_templates() -> None:
    request = to_chat({"model": "m", "input": "x", "instructions": 'be "brief" é'})
    builder = StreamingResponseBuilder(request, response_id="resp_1", created_at=1, new_id=_ids())
    builder.start_sse()
    first = builder.text_sse("Hel")
    assert first is not None and first.count("event: ") == 3  # item, part, delta
    assert builder.text_sse("lo") is not None
    assert builder.text_sse("") is None  # nothing to say: no event
    builder.feed(Finish("stop"))
    end = builder.finish_sse()
    assert [line for line in end.splitlines() if line.startswith("event: ")] == [
        "event: response.output_text.done",
        "event: response.content_part.done",
        "event: response.output_item.done",
        "event: response.completed",
    ]
    assert builder.response["output"][0]["content"][0]["text"] == "Hello"


def test_text_after_a_tool_call_goes_the_general_way() -> None:
    builder = StreamingResponseBuilder(
        to_chat({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}]}),
        response_id="resp_1",
        created_at=1,
        new_id=_ids(),
    )
    builder.start_sse()
    builder.feed(ToolCallDelta(0, "call_1", "f", "{}"))
    assert builder.text_sse("hi") is None  # a function call item is open
    assert builder.encode_text(builder.feed(TextDelta("hi"))).count("event: ") == 5


_SSE_TEXT = st.text(alphabet="ab :\n\r\\{}", max_size=8) | st.sampled_from(
    ["data: ", "data:", ": c"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_SSE_TEXT, min_size=1, max_size=6), st.booleans())
def test_event_split_fast_path_is_the_general_parse(lines: list[str], as_events: bool) -> None:
    # As events ("data: x" blocks, which may hold stray newlines) or as free text cut at an
    # event boundary: the one-line-per-event shortcut must agree with the general parser.
    block = "".join(f"data: {x}\n\n" for x in lines) if as_events else "".join(lines) + "\n\n"
    assert _events(block) == _events_general(block)


def test_event_split_common_shape() -> None:
    block = 'data: {"a":1}\n\ndata: data: x\n\ndata: \n\ndata: [DONE]\n\n'
    assert _events(block) == ['{"a":1}', "data: x", "", "[DONE]"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_messages_start_template_is_the_encoded_start(message_id: str, model: str) -> None:
    from privproxy.api.messages import _encode_text, _start_text
    from privproxy.api.translate.messages_response import MessagesStream

    translator = MessagesStream(message_id=message_id, model=model)
    assert _start_text(translator, message_id, model) == _encode_text(translator.start())


@settings(max_examples=100, deadline=None)
@given(st.lists(_DELTA, max_size=6), st.sampled_from([None, "stop", "length"]))
def test_the_client_s_tools_text_stands_for_the_same_tools(
    deltas: list[Any], finish: str | None
) -> None:
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    spelled = json.dumps(tools)  # another spelling of the same value
    body = {"model": "m", "input": "x", "tools": tools}
    both = _stream_both(body, deltas, finish, tools_json=spelled)
    if both is None:
        return
    text, events, fast_response, slow_response = both
    assert sse_events(utf8(text)) == events
    assert fast_response == slow_response
    if events[-1]["response"]["status"] != "failed":
        assert spelled in text


@settings(max_examples=300, deadline=None)
@given(_ECHO, st.lists(_DELTA, max_size=8), st.sampled_from([None, "stop", "length"]))
def test_a_quiet_builder_builds_the_same_response(
    body: dict[str, Any], deltas: list[Any], finish: str | None
) -> None:
    # A non-stream answer makes no events; its response must be the streamed one's.
    request = to_chat(body)
    quiet = ResponseBuilder(request, response_id="r", created_at=1, new_id=_ids(), quiet=True)
    loud = ResponseBuilder(request, response_id="r", created_at=1, new_id=_ids())
    try:
        for delta in [*deltas, *([Finish(finish), Usage(2, 3)] if finish else [])]:
            assert quiet.feed(delta) == []
            loud.feed(delta)
    except UnexpectedAnswerError:
        return
    ended = quiet.finish()
    assert ended == [] if finish else ended[0]["type"] == "response.failed"
    loud.finish()
    assert quiet.response == loud.response
    assert quiet.output == loud.output
