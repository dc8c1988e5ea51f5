"""Chat answers as normalized deltas: one sequence for streamed and whole answers.

`chunk_deltas` reads one parsed `chat.completion.chunk`, `completion_deltas` a whole
`chat.completion`; both give the same kinds of `Delta`, so each API translator has one code
path for both; `merged_deltas` reads the chunks of one read of a stream, a run of text or of
one tool call's arguments merged into one delta. Only choice 0 is read (translated requests
never ask for more). Fields of an unexpected type are ignored rather than trusted: the answer
is authenticated but the model's output is still data, never code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning text (`reasoning_content` / `reasoning`)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of tool call `index`: its id and name (first piece) and arguments text."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The choice ended: `stop`, `length`, `tool_calls`, `content_filter`, ...; `stop` is the
    stop string that ended it when the server names it (vLLM's `stop_reason`), else None."""

    reason: str
    stop: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the whole answer."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens


Delta = TextDelta | ReasoningDelta | ToolCallDelta | Finish | Usage

_TEXT_ONLY = frozenset({"content", "role"})


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(obj: Any) -> Usage | None:
    """Chat `usage` → `Usage` (None when absent or not an object)."""
    if not isinstance(obj, dict):
        return None
    prompt_details = obj.get("prompt_tokens_details")
    completion_details = obj.get("completion_tokens_details")
    return Usage(
        _int(obj.get("prompt_tokens")),
        _int(obj.get("completion_tokens")),
        _int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0,
        _int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0,
    )


def _reasoning(message: dict[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _tool_calls(message: dict[str, Any], out: list[Delta]) -> None:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return
    for position, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        index = call.get("index", position)
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        ident, name, args = call.get("id"), fn.get("name"), fn.get("arguments")
        out.append(
            ToolCallDelta(
                _int(index),
                ident if isinstance(ident, str) and ident else None,
                name if isinstance(name, str) and name else None,
                args if isinstance(args, str) else "",
            )
        )


def _choice(obj: dict[str, Any]) -> dict[str, Any] | None:
    choices = obj.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def plain_text(chunk: dict[str, Any]) -> str | None:
    """The text of a chunk that carries nothing but text for choice 0 (no finish, usage,
    reasoning or tool calls), else None: exactly when `chunk_deltas` gives one `TextDelta`.
    The hot path of every translated stream (one chunk per token), checked in one pass."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1 or chunk.get("usage") is not None:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("index", 0) != 0:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or not delta.keys() <= _TEXT_ONLY:
        return None
    text = delta.get("content")
    return text if type(text) is str and text else None


def _message_deltas(part: dict[str, Any], out: list[Delta]) -> None:
    """Reasoning, text and tool calls of a stream chunk's `delta` or a whole answer's
    `message` (the two carry the same fields), appended to `out` in reading order."""
    reasoning = _reasoning(part)
    if reasoning:
        out.append(ReasoningDelta(reasoning))
    content = part.get("content")
    if isinstance(content, str) and content:
        out.append(TextDelta(content))
    _tool_calls(part, out)


def chunk_deltas(chunk: dict[str, Any]) -> list[Delta]:
    """The deltas of one parsed `chat.completion.chunk`, in reading order."""
    text = plain_text(chunk)
    if text is not None:
        return [TextDelta(text)]
    out: list[Delta] = []
    choice = _choice(chunk)
    if choice is not None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            _message_deltas(delta, out)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            stop = choice.get("stop_reason")
            out.append(Finish(reason, stop if isinstance(stop, str) else None))
    usage = usage_of(chunk.get("usage"))
    if usage is not None:
        out.append(usage)
    return out


Piece = dict[str, Any] | str
"""One chunk of a chat stream as `ChatAnswer.next_pieces` gives it: parsed, or (a text-only
chunk) its text."""


def merged_deltas(pieces: Iterable[Piece]) -> list[Delta | str]:
    """The deltas of consecutive chunks (one read of a stream), in order, with consecutive
    text merged into one `str` (every `TextDelta` comes as its text) and consecutive argument
    pieces of one tool call (same index, no id or name of their own) merged into one
    `ToolCallDelta`. Both APIs a stream is translated to define deltas as arbitrary pieces of
    the text, so one event per read carries what one event per chunk would, and a burst of
    chunks costs one event instead of many; a paced stream (one chunk per read) is as
    before."""
    out: list[Delta | str] = []
    text: list[str] = []  # text not yet added to `out`
    call: ToolCallDelta | None = None  # a tool call piece not yet added to `out`...
    args: list[str] = []  # ...and the arguments of its continuation pieces

    def flush() -> None:
        nonlocal call
        if text:
            out.append(text[0] if len(text) == 1 else "".join(text))
            text.clear()
        elif call is not None:
            if args:
                call = ToolCallDelta(call.index, call.id, call.name, call.arguments + "".join(args))
                args.clear()
            out.append(call)
            call = None

    for piece in pieces:
        if type(piece) is str:
            if call is not None:
                flush()
            text.append(piece)
            continue
        assert isinstance(piece, dict)
        for delta in chunk_deltas(piece):
            if type(delta) is TextDelta:
                if call is not None:
                    flush()
                text.append(delta.text)
            elif type(delta) is ToolCallDelta:
                if (
                    call is not None
                    and delta.index == call.index
                    and delta.id is None
                    and delta.name is None
                ):
                    args.append(delta.arguments)
                else:
                    flush()
                    call = delta
            else:
                flush()
                out.append(delta)
    flush()
    return out


def completion_deltas(completion: dict[str, Any]) -> list[Delta]:
    """A whole `chat.completion` as the deltas a stream of it would give."""
    out: list[Delta] = []
    choice = _choice(completion)
    if choice is not None:
        message = choice.get("message")
        if isinstance(message, dict):
            _message_deltas(message, out)
        reason = choice.get("finish_reason")
        out.append(Finish(reason if isinstance(reason, str) and reason else "stop"))
    usage = usage_of(completion.get("usage"))
    if usage is not None:
        out.append(usage)
    return out


__all__ = [
    "Delta",
    "Finish",
    "Piece",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
    "chunk_deltas",
    "completion_deltas",
    "merged_deltas",
    "plain_text",
    "usage_of",
]
