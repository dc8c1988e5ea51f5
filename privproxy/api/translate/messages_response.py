"""Chat-completions answer → Anthropic Messages answer (pure, no I/O).

`to_message` turns a `chat.completion` object into a `message` object. `MessagesStream`
turns chat stream chunks (decoded `data:` objects) into Messages stream events, as
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
from collections.abc import Mapping, Sequence
from typing import Any, Final

from privproxy.api.translate.messages_errors import MessagesAnswerError

Event = tuple[str, dict[str, Any]]

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


def usage(chat_usage: Any) -> dict[str, int]:
    """Anthropic `usage` from chat `usage` (missing counts are 0). Cached prompt tokens are
    reported as cache reads, the rest as input."""
    if not isinstance(chat_usage, Mapping):
        chat_usage = {}
    prompt = _count(chat_usage.get("prompt_tokens"))
    details = chat_usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    cached = min(cached, prompt)
    return {
        "input_tokens": prompt - cached,
        "output_tokens": _count(chat_usage.get("completion_tokens")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tool_input(arguments: Any) -> dict[str, Any]:
    """Parse a tool call's JSON `arguments` into the `input` object (empty text: `{}`)."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise MessagesAnswerError("The model's tool call arguments are not a JSON object")
    return value


def _choice(chat: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = chat.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return {}


def to_message(
    chat: Any, *, message_id: str, model: str, stop_sequences: Sequence[str] = ()
) -> dict[str, Any]:
    """A `message` object from a non-streaming `chat.completion`."""
    if not isinstance(chat, Mapping) or not isinstance(chat.get("choices"), list):
        raise MessagesAnswerError("The model's answer is not a chat completion")
    choice = _choice(chat)
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for n, call in enumerate(calls if isinstance(calls, list) else []):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise MessagesAnswerError("The model's tool call has no function name")
        call_id = call.get("id")
        content.append(
            {
                "type": "tool_use",
                "id": call_id
                if isinstance(call_id, str) and call_id
                else f"toolu_{message_id}_{n}",
                "name": function["name"],
                "input": tool_input(function.get("arguments")),
            }
        )
    reason, sequence = stop_reason(
        choice.get("finish_reason"), choice.get("stop_reason"), stop_sequences
    )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(chat.get("usage")),
    }


class MessagesStream:
    """Chat stream chunks in, Messages stream events out (one instance per answer).

    Call `start()` once, `feed(chunk)` for every decoded chunk, then `finish()`; `error()`
    ends a stream that failed after it started. Blocks are numbered from 0 in the order they
    open, and exactly one block is open at a time.
    """

    def __init__(self, *, message_id: str, model: str, stop_sequences: Sequence[str] = ()):
        self._id = message_id
        self._model = model
        self._stops = tuple(stop_sequences)
        self._index = -1  # index of the last block opened
        self._open: str | None = None  # "text" or "tool_use" while a block is open
        self._tool_slot: Any = None  # the chat tool_calls index of the open tool_use block
        self._tool_count = 0
        self._finish: Any = None
        self._matched: Any = None
        self._usage: Any = None
        self._done = False

    def start(self) -> list[Event]:
        """`message_start` (an empty assistant message) and a `ping`."""
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(None),
        }
        return [("message_start", {"type": "message_start", "message": message}), _PING]

    def feed(self, chunk: Any) -> list[Event]:
        """Events for one decoded chat chunk (often none: role-only and usage chunks)."""
        if not isinstance(chunk, Mapping):
            raise MessagesAnswerError("The model's stream sent a chunk that is not an object")
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        choice = _choice(chunk)
        events: list[Event] = []
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open != "text":
                    events += self._close()
                    events.append(self._open_block({"type": "text", "text": ""}, "text"))
                events.append(self._delta({"type": "text_delta", "text": text}))
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else []:
                if isinstance(call, Mapping):
                    events += self._tool_piece(call)
        if choice.get("finish_reason") is not None:
            self._finish = choice["finish_reason"]
            self._matched = choice.get("stop_reason")
        return events

    def _tool_piece(self, call: Mapping[str, Any]) -> list[Event]:
        events: list[Event] = []
        slot = call.get("index", 0)
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        if self._open != "tool_use" or slot != self._tool_slot or call.get("id"):
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise MessagesAnswerError("The model's streamed tool call has no function name")
            events += self._close()
            call_id = call.get("id")
            block = {
                "type": "tool_use",
                "id": call_id
                if isinstance(call_id, str) and call_id
                else f"toolu_{self._id}_{self._tool_count}",
                "name": name,
                "input": {},
            }
            self._tool_count += 1
            self._tool_slot = slot
            events.append(self._open_block(block, "tool_use"))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        return events

    def finish(self) -> list[Event]:
        """Close the open block, then `message_delta` (stop reason, usage) and
        `message_stop`."""
        events = self._close()
        reason, sequence = stop_reason(self._finish, self._matched, self._stops)
        self._done = True
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": usage(self._usage),
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    @property
    def done(self) -> bool:
        """True once `finish()` produced `message_stop`."""
        return self._done

    def _open_block(self, block: dict[str, Any], kind: str) -> Event:
        self._index += 1
        self._open = kind
        return (
            "content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )

    def _delta(self, delta: dict[str, Any]) -> Event:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        self._tool_slot = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]


_PING: Final[Event] = ("ping", {"type": "ping"})


def error_event(error_type: str, message: str) -> Event:
    """The in-stream `error` event (Anthropic's shape)."""
    return ("error", {"type": "error", "error": {"type": error_type, "message": message}})


__all__ = [
    "Event",
    "MessagesStream",
    "error_event",
    "stop_reason",
    "to_message",
    "tool_input",
    "usage",
]
