"""The translated streams' fast paths give exactly what the general path gives.

* `sealed_chat._TextShape` (text-only chunks read by scanning only their text token) must
  agree with parsing each event whole and reading it with `chat_stream.plain_text`, for
  every text, and must never be fooled by events built to look like the learned shape.
* `ResponseBuilder.text_sse` must be the bytes `encode(feed(TextDelta(text)))` gives, and
  leave the builder in the same state.
* The Messages stream's templates (start, text blocks, end) must be the bytes the general
  encoder gives for the events `MessagesStream` builds, for any chat stream.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.messages import (
    _TEXT_DELTA,
    _append_text,
    _encode_text,
    _end_text,
    _open_text,
    _start_text,
)
from privproxy.api.sealed_chat import _chunk, _events, _events_general, _TextShape
from privproxy.api.translate.chat_stream import (
    Finish,
    Piece,
    TextDelta,
    Usage,
    chunk_deltas,
    merged_deltas,
    plain_text,
)
from privproxy.api.translate.messages_errors import MessagesAnswerError
from privproxy.api.translate.messages_response import MessagesStream
from privproxy.api.translate.responses_events import ResponseBuilder
from privproxy.api.translate.responses_request import to_chat
from privproxy.api.translate.sse import encode_events
from privproxy.jsoncodec import utf8
from tests.privproxy.fake_gateway import chunk

_TEXTS = st.text(min_size=0, max_size=12)


def _event(obj: dict[str, Any], *, ascii_only: bool = True) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only)


def _read(shape: _TextShape, event: str) -> str | None:
    """What a translating stream reads from `event`: the shape's text, else plain_text."""
    text = shape.match(event)
    if text is not None:
        return text
    chunk = shape.learn(event, _chunk(event))
    assert isinstance(chunk, dict)
    return plain_text(chunk)


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


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXTS.filter(bool), min_size=1, max_size=8), st.sampled_from(["stop", "length"]))
def test_text_sse_is_the_encoded_text_delta(texts: list[str], finish: str) -> None:
    # The fast builder writes through text_sse and encode_text (templates, a shared
    # snapshot); the other builds event objects for the general encoder: same bytes.
    request = to_chat({"model": "m", "input": "x", "instructions": 'be "brief" é'})
    fast = ResponseBuilder(request, response_id="resp_1", created_at=1, new_id=_ids())
    slow = ResponseBuilder(request, response_id="resp_1", created_at=1, new_id=_ids())
    assert utf8(fast.encode_text(fast.start())) == encode_events(slow.start())
    assert fast.text_sse(texts[0]) is None  # no message item open yet
    for text in texts:
        sse = fast.text_sse(text)
        if sse is None:
            sse = fast.encode_text(fast.feed(TextDelta(text)))
        assert utf8(sse) == encode_events(slow.feed(TextDelta(text)))
    for builder in (fast, slow):
        builder.feed(Finish(finish))
        builder.feed(Usage(3, len(texts)))
    assert utf8(fast.encode_text(fast.finish())) == encode_events(slow.finish())
    assert fast.response == slow.response


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
    translator = MessagesStream(message_id=message_id, model=model)
    assert _start_text(translator, message_id, model) == _encode_text(translator.start())
    assert utf8(_encode_text(translator.start())) == encode_events(translator.start())


# Chat chunks of every kind a stream may carry, text-only ones also as their text (as
# `ChatAnswer.next_pieces` gives them), cut into reads at random.
_STOPS = ["END", 'q"uote', "é\\n"]
_COUNTS = st.integers(-2, 2**70) | st.booleans()


def _choice(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, **extra}]}


@st.composite
def _tool_piece(draw: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"index": draw(st.integers(0, 2))}
    function: dict[str, Any] = {"arguments": draw(st.sampled_from(["", '{"a":', "1}", "{}"]))}
    if draw(st.booleans()):  # a call's first piece (a piece without a name may be refused)
        call["id"] = draw(st.sampled_from(["call_1", "call_2"]))
        function["name"] = "f"
    call["function"] = function
    return _choice({"tool_calls": [call]})


_CHUNKS = st.one_of(
    _TEXTS.filter(bool).map(lambda text: _choice({"content": text})),
    _TEXTS.map(lambda text: _choice({"role": "assistant", "content": text})),
    _TEXTS.filter(bool).map(lambda text: _choice({"reasoning_content": text})),
    _tool_piece(),
    st.builds(
        lambda text, reason, stop: _choice(
            {"content": text}, finish_reason=reason, stop_reason=stop
        ),
        _TEXTS,
        st.sampled_from(["stop", "length", "tool_calls", "content_filter", "other"]),
        st.sampled_from([None, *_STOPS, "unasked"]),
    ),
    st.builds(
        lambda prompt, completion, cached: {
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        },
        _COUNTS,
        _COUNTS,
        _COUNTS,
    ),
)


def _as_piece(chunk: dict[str, Any], as_text: bool) -> Piece:
    text = plain_text(chunk)
    return text if as_text and text is not None else chunk


_READS = st.lists(
    st.lists(st.builds(_as_piece, _CHUNKS, st.booleans()), min_size=1, max_size=5),
    max_size=8,
)


def _general(translator: MessagesStream, pieces: list[Any]) -> bytes:
    """The general path: every piece's events built as objects, then encoded."""
    events: list[dict[str, Any]] = []
    for piece in pieces:
        if isinstance(piece, dict):
            events += translator.feed(piece)
        else:
            events += translator.apply([TextDelta(piece) if isinstance(piece, str) else piece])
    return encode_events(events)


def _templated(translator: MessagesStream, pieces: list[Any]) -> bytes:
    """The stream's path (`messages._append_text`)."""
    out: list[str] = []
    _append_text(translator, pieces, out)
    return utf8("".join(out))


def _outcome(step: Any, *args: Any) -> Any:
    try:
        return step(*args)
    except MessagesAnswerError as exc:
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(_READS, st.sampled_from([(), _STOPS]))
def test_messages_stream_templates_are_the_encoded_events(
    reads: list[list[Piece]], stops: Any
) -> None:
    fast = MessagesStream(message_id="msg_1", model="m", stop_sequences=stops)
    slow = MessagesStream(message_id="msg_1", model="m", stop_sequences=stops)
    for batch in reads:
        pieces = merged_deltas(batch) if len(batch) > 1 else batch  # as `_stream` reads them
        got = _outcome(_templated, fast, pieces)
        assert got == _outcome(_general, slow, pieces)
        if got is MessagesAnswerError:  # a tool call without a name: the stream ends
            return
    closed, reason, sequence, usage = fast.end()
    assert utf8(_end_text(closed, reason, sequence, usage)) == encode_events(slow.finish())
    assert _outcome(fast.message) == _outcome(slow.message)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _TEXTS.filter(bool)), max_size=6))
def test_messages_open_text_is_apply_of_a_text_delta(steps: list[tuple[bool, str]]) -> None:
    # Text after a tool_use block closes it: `open_text` gives the same events and state.
    fast = MessagesStream(message_id="msg_1", model="m")
    slow = MessagesStream(message_id="msg_1", model="m")
    for tool, text in steps:
        if tool:
            call = _choice({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]})
            assert fast.feed(call) == slow.feed(call)
            continue
        index = fast.add_text(text)
        if index is None:
            closed, index = fast.open_text(text)
            sse = _open_text(closed, index)
        else:
            sse = ""
        sse += _TEXT_DELTA % (index, json.dumps(text, ensure_ascii=False))
        assert utf8(sse) == encode_events(slow.apply([TextDelta(text)]))
    assert fast.finish() == slow.finish()
    assert fast.message() == slow.message()
