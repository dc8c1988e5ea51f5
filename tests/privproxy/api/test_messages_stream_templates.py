"""A streamed Messages answer's templates give exactly the general encoder's bytes.

`messages._append_text` writes text blocks from templates, `messages._end_text` the end of
the answer from `MessagesStream.end`; for any chat stream cut into any reads, both must give
the bytes, errors and final message the event objects of `MessagesStream` encode to.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.messages import (
    _TEXT_DELTA,
    _append_text,
    _end_text,
    _open_text,
    _start_text,
)
from privproxy.api.translate.chat_stream import Piece, TextDelta, merged_deltas, plain_text
from privproxy.api.translate.messages_errors import MessagesAnswerError
from privproxy.api.translate.messages_response import MessagesStream
from privproxy.api.translate.sse import encode_events
from privproxy.jsoncodec import utf8

_TEXTS = st.text(min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_start_template_is_the_encoded_start(message_id: str, model: str) -> None:
    translator = MessagesStream(message_id=message_id, model=model)
    assert utf8(_start_text(translator, message_id, model)) == encode_events(translator.start())


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
def test_stream_templates_are_the_encoded_events(reads: list[list[Piece]], stops: Any) -> None:
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
def test_open_text_is_apply_of_a_text_delta(steps: list[tuple[bool, str]]) -> None:
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
