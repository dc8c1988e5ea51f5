"""`ChatAnswer.next_pieces` (text-only chunks as their text, found by the learned shape, also
in place within a read) reads any chat stream, cut into any reads, as `next_batch` (every
chunk parsed whole) does: the same text in the same order, the same other chunks, the same
errors."""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from privproxy.api.sealed_chat import ChatAnswer
from privproxy.api.translate.chat_stream import plain_text
from privproxy.errors import ProxyError

_TEXTS = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["", "a", '"', "\\", "\n", "\r\n", "data: x", "\n\ndata: ", "é", "🙂"]
)


def _choice(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "c1", "choices": [{"index": 0, "delta": delta, **extra}]}


_CHUNKS = st.one_of(
    _TEXTS.map(lambda text: _choice({"content": text})),
    _TEXTS.map(lambda text: _choice({"content": text})),  # the common case, twice as often
    _TEXTS.map(lambda text: _choice({"role": "assistant", "content": text})),
    _TEXTS.map(lambda text: _choice({"content": text}, finish_reason="stop")),
    _TEXTS.map(lambda text: {"choices": [], "usage": {"prompt_tokens": 1}, "note": text}),
    _TEXTS.map(
        lambda text: _choice({"tool_calls": [{"index": 0, "function": {"arguments": text}}]})
    ),
)


@st.composite
def _event(draw: Any) -> str:
    """One chunk as an SSE event: compact or spaced JSON, escaped or not, mostly one
    `data:` line, sometimes split over lines, CRLF-terminated or after a comment."""
    chunk = draw(_CHUNKS)
    spaced, ascii_only = draw(st.booleans()), draw(st.booleans())
    separators = (", ", ": ") if spaced else (",", ":")
    data = json.dumps(chunk, separators=separators, ensure_ascii=ascii_only)
    form = draw(st.sampled_from(["line"] * 6 + ["lines", "bare", "crlf", "comment", "nospace"]))
    cut = data.index(",") + 1 if "," in data else len(data)
    if form == "lines":
        return f"data: {data[:cut]}\ndata: {data[cut:]}\n\n"
    if form == "bare":  # a line without a field name: SSE ignores it (then not JSON)
        return f"data: {data[:cut]}\n{data[cut:]}\n\n"
    if form == "crlf":
        return f"data: {data}\r\n\r\n"
    if form == "comment":
        return f": keep-alive\n\ndata: {data}\n\n"
    if form == "nospace":
        return f"data:{data}\n\n"
    return f"data: {data}\n\n"


class _Upstream:
    """The decrypted reads of an answer, one per `read`."""

    def __init__(self, reads: list[bytes]) -> None:
        self.headers = {"Content-Type": "text/event-stream"}
        self._reads = list(reads)

    @property
    def complete(self) -> bool:
        return not self._reads

    async def read(self) -> bytes | None:
        return self._reads.pop(0) if self._reads else None

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def _run(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the fake upstream never waits")


def _read_all(reads: list[bytes], pieces: bool) -> list[Any] | str:
    """Texts (consecutive ones joined) and other chunks in order, or the error's code."""
    first, rest = reads[0], reads[1:]
    answer = ChatAnswer(web.Application(), _Upstream(rest), first)  # type: ignore[arg-type]
    out: list[Any] = []
    try:
        read = answer.next_pieces if pieces else answer.next_batch
        while (batch := _run(read())) is not None:
            for piece in batch:
                text = piece if isinstance(piece, str) else plain_text(piece)
                if text is None:
                    out.append(piece)
                elif out and isinstance(out[-1], str):
                    out[-1] += text
                else:
                    out.append(text)
    except ProxyError as err:
        return err.code
    return out


@settings(max_examples=600, deadline=None)
@given(
    st.lists(_event(), max_size=12),
    st.lists(st.integers(0, 10_000), max_size=6),
    st.booleans(),
)
def test_pieces_read_what_parsing_every_chunk_reads(
    events: list[str], cuts: list[int], ended: bool
) -> None:
    raw = ("".join(events) + ("data: [DONE]\n\n" if ended else "")).encode()
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    reads = [raw[a:b] for a, b in itertools.pairwise(points)] or [b""]
    assert _read_all(reads, pieces=True) == _read_all(reads, pieces=False)


def test_a_burst_of_text_chunks_is_read_in_place() -> None:
    # After the chunk that teaches the shape, the rest of the read is scanned, not split.
    events = [f"data: {json.dumps(_choice({'content': f'w{i} '}))}\n\n" for i in range(6)]
    raw = ("".join(events) + "data: [DONE]\n\n").encode()
    answer = ChatAnswer(web.Application(), _Upstream([]), raw)  # type: ignore[arg-type]
    assert _run(answer.next_pieces()) == ["w0 w1 w2 w3 w4 w5 "]
    assert answer._shape is not None and answer._shape.scans


def test_a_shape_learned_from_lines_is_not_scanned_in_raw_text() -> None:
    # Learned from an event split over two `data:` lines (its data holds their "\n"), the
    # shape is not searched in the raw text, where "\n" + the same bytes is a line SSE
    # ignores: that event's data is only its first line, not JSON.
    def event(text: str, bare: bool) -> str:
        data = json.dumps(_choice({"content": text}), separators=(",", ":"))
        cut = data.index(",") + 1
        return f"data: {data[:cut]}\n{'' if bare else 'data: '}{data[cut:]}\n\n"

    raw = (event("hi", bare=False) + event("yo", bare=True) + "data: [DONE]\n\n").encode()
    assert _read_all([raw], pieces=True) == _read_all([raw], pieces=False) == "malformed_answer"
