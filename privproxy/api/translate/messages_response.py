"""Chat-completions answer → Anthropic Messages answer (pure, no I/O).

Both read the normalized deltas of `chat_stream`. `to_message` turns a `chat.completion`
object into a `message` object. `MessagesStream` turns chat stream chunks (decoded `data:`
objects) into Messages stream events, as
`(event name, data)` pairs: `message_start`, `ping`, then per content block
`content_block_start` / `content_block_delta`... / `content_block_stop` (text blocks carry
`text_delta`, tool_use blocks `input_json_delta`), then `message_delta` with `stop_reason`
and `usage`, and `message_stop`. Usage arrives last in a chat stream (the usage-only chunk),
so `message_start` reports zero tokens and `message_delta` the real counts.

Reasoning text a model streams (`reasoning_content`) is not returned: an Anthropic thinking
block needs a signature we cannot produce.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from privproxy.api.translate.chat_stream import (
    Delta,
    Finish,
    TextDelta,
    ToolCallDelta,
    Usage,
    chunk_deltas,
    completion_deltas,
    plain_text,
)
from privproxy.api.translate.messages_errors import MessagesAnswerError

Event = dict[str, Any]
"""One Messages stream event; its `type` is the SSE event name."""

_STOP_REASONS: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish: Any, matched: Any, stop_sequences: Sequence[str]) -> tuple[str, str | None]:
    """(`stop_reason`, `stop_sequence`) from a chat `finish_reason` and, when the server
    reports it (vLLM's `stop_reason`), the stop string that ended the answer."""
    if finish == "stop" and isinstance(matched, str) and matched in stop_sequences:
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish, "end_turn"), None


def usage(counts: Usage | None) -> dict[str, int]:
    """Anthropic `usage` from the chat counts (none yet: zeros). Cached prompt tokens are
    reported as cache reads, the rest as input."""
    if counts is None:
        counts = Usage(0, 0)
    cached = min(counts.cached_tokens, counts.input_tokens)
    return {
        "input_tokens": counts.input_tokens - cached,
        "output_tokens": counts.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def tool_input(arguments: str) -> dict[str, Any]:
    """Parse a tool call's JSON `arguments` into the `input` object (empty text: `{}`).
    NaN and Infinity are refused like any other non-JSON (they could not be written back)."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise MessagesAnswerError("The model's tool call arguments are not a JSON object")
    return value


def _matched_stop(chat: Mapping[str, Any]) -> Any:
    """vLLM's `stop_reason` of choice 0: the stop string that ended the answer, if any."""
    choices = chat.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0].get("stop_reason")
    return None


def to_message(
    chat: Any, *, message_id: str, model: str, stop_sequences: Sequence[str] = ()
) -> dict[str, Any]:
    """A `message` object from a non-streaming `chat.completion`."""
    if not isinstance(chat, dict) or not isinstance(chat.get("choices"), list):
        raise MessagesAnswerError("The model's answer is not a chat completion")
    stream = MessagesStream(message_id=message_id, model=model, stop_sequences=stop_sequences)
    stream.apply_completion(chat)
    stream.finish()
    return stream.message()


class MessagesStream:
    """Chat answer in, Messages events out (one instance per answer).

    Call `start()` once, `feed(chunk)` for every decoded chat chunk, then `finish()`. Blocks
    are numbered from 0 in the order they open, and exactly one block is open at a time.
    The blocks are also kept, so `message()` gives the whole message (the non-stream answer
    is built the same way, from the same deltas).
    """

    def __init__(self, *, message_id: str, model: str, stop_sequences: Sequence[str] = ()):
        self._id = message_id
        self._model = model
        self._stops = tuple(stop_sequences)
        self._blocks: list[dict[str, Any]] = []
        # Per block: its text, or its tool call's JSON text, in pieces (joined once at the end:
        # appending to a string in a dict would copy it for every piece).
        self._parts: list[list[str]] = []
        self._open = False
        self._tool_slot: int | None = None  # chat tool_calls index of the open tool_use block
        self._finish: str | None = None
        self._matched: Any = None
        self._usage: Usage | None = None
        self._stop: tuple[str, str | None] | None = None

    def _shell(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(None),
        }

    def start(self) -> list[Event]:
        """`message_start` (an empty assistant message) and a `ping`."""
        return [{"type": "message_start", "message": self._shell()}, {"type": "ping"}]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """Events for one decoded chat chunk (often none: role-only and usage chunks)."""
        text = plain_text(chunk)
        if text is not None:
            index = self.add_text(text)
            if index is not None:
                delta = {"type": "text_delta", "text": text}
                return [{"type": "content_block_delta", "index": index, "delta": delta}]
        return self.apply(chunk_deltas(chunk), _matched_stop(chunk))

    def add_text(self, text: str) -> int | None:
        """The hot path of `feed` (most chunks of an answer): `text`, a chunk's
        `chat_stream.plain_text`, appended to the open text block, whose index is returned:
        the one event it causes is that block's `text_delta` of `text`. None, and nothing
        changed, when no text block is open (then `feed` the chunk)."""
        if not self._open or self._tool_slot is not None:
            return None
        self._parts[-1].append(text)
        return len(self._blocks) - 1

    def open_text(self, text: str) -> tuple[int | None, int]:
        """`add_text` where it returned None: close the open block (a tool_use block), if
        any, and open a text block holding `text`. Returns (index of the block closed, or
        None; index of the text block): the events are that block's `content_block_stop`,
        the text block's `content_block_start` (empty text), then its `text_delta` of
        `text`, as `apply([TextDelta(text)])` gives them."""
        closed = self._close_index()
        self._open_block({"type": "text", "text": ""})
        self._parts[-1].append(text)
        return closed, len(self._blocks) - 1

    def apply_completion(self, chat: dict[str, Any]) -> list[Event]:
        """Events for a whole `chat.completion` (as if it had been streamed)."""
        return self.apply(completion_deltas(chat), _matched_stop(chat))

    def apply(self, deltas: Iterable[Delta], matched: Any = None) -> list[Event]:
        """Events for normalized chat deltas; `matched` is the chunk's stop string, if any
        (else a `Finish` delta's own)."""
        events: list[Event] = []
        for delta in deltas:
            if isinstance(delta, TextDelta):
                if not self._open or self._tool_slot is not None:
                    events += self._close()
                    events.append(self._open_block({"type": "text", "text": ""}))
                self._parts[-1].append(delta.text)
                events.append(self._delta({"type": "text_delta", "text": delta.text}))
            elif isinstance(delta, ToolCallDelta):
                events += self._tool_piece(delta)
            elif isinstance(delta, Finish):
                self._finish = delta.reason
                self._matched = matched if matched is not None else delta.stop
            elif isinstance(delta, Usage):
                self._usage = delta
            # ReasoningDelta: not returned (module docstring).
        return events

    def _tool_piece(self, call: ToolCallDelta) -> list[Event]:
        events: list[Event] = []
        if self._tool_slot != call.index or call.id is not None:
            if call.name is None:
                raise MessagesAnswerError("The model's streamed tool call has no function name")
            events += self._close()
            ident = call.id or f"toolu_{self._id}_{len(self._blocks)}"
            block = {"type": "tool_use", "id": ident, "name": call.name, "input": {}}
            events.append(self._open_block(block))
            self._tool_slot = call.index
        if call.arguments:
            self._parts[-1].append(call.arguments)
            events.append(self._delta({"type": "input_json_delta", "partial_json": call.arguments}))
        return events

    def finish(self) -> list[Event]:
        """Close the open block, then `message_delta` (stop reason, usage) and
        `message_stop`."""
        closed, reason, sequence, counts = self.end()
        events = _stop_events(closed)
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": sequence},
                "usage": counts,
            }
        )
        events.append({"type": "message_stop"})
        return events

    def end(self) -> tuple[int | None, str, str | None, dict[str, int]]:
        """`finish()` as values (a stream writes its events from templates): the index of
        the block closed (or None), `stop_reason`, `stop_sequence` and `usage`."""
        closed = self._close_index()
        self._stop = reason, sequence = stop_reason(self._finish, self._matched, self._stops)
        return closed, reason, sequence, usage(self._usage)

    @property
    def finished_by_model(self) -> bool:
        """True once the chat answer gave its finish reason (a stream without one was cut)."""
        return self._finish is not None

    def message(self) -> dict[str, Any]:
        """The whole message after `finish()` (tool inputs parsed; raises
        `MessagesAnswerError` when a tool call's arguments are not a JSON object)."""
        assert self._stop is not None, "finish() first"
        message = self._shell()
        for block, parts in zip(self._blocks, self._parts, strict=True):
            if block["type"] == "tool_use":
                block = {**block, "input": tool_input("".join(parts))}
            else:
                block = {**block, "text": "".join(parts)}
            message["content"].append(block)
        message["stop_reason"], message["stop_sequence"] = self._stop
        message["usage"] = usage(self._usage)
        return message

    def _open_block(self, block: dict[str, Any]) -> Event:
        self._blocks.append(block)
        self._parts.append([])
        self._open = True
        start = {"type": "content_block_start", "index": len(self._blocks) - 1}
        start["content_block"] = dict(block)
        return start

    def _delta(self, delta: dict[str, Any]) -> Event:
        index = len(self._blocks) - 1
        return {"type": "content_block_delta", "index": index, "delta": delta}

    def _close(self) -> list[Event]:
        return _stop_events(self._close_index())

    def _close_index(self) -> int | None:
        """Close the open block; its index (None when no block is open)."""
        if not self._open:
            return None
        self._open = False
        self._tool_slot = None
        return len(self._blocks) - 1


def _stop_events(index: int | None) -> list[Event]:
    """`content_block_stop` of block `index` (none when no block was closed)."""
    return [] if index is None else [{"type": "content_block_stop", "index": index}]


__all__ = [
    "Event",
    "MessagesStream",
    "stop_reason",
    "to_message",
    "tool_input",
    "usage",
]
