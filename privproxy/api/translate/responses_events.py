"""Chat deltas → Responses API events and the `response` object (pure).

`ResponseBuilder` is fed the deltas of one chat answer (`chat_stream`) and returns the
Responses streaming events each one causes, every event with its `sequence_number`:

    response.created, response.in_progress,
    per output item: response.output_item.added,
        message:   content_part.added, output_text.delta*, output_text.done, content_part.done
        reasoning: content_part.added, reasoning_text.delta*, reasoning_text.done,
                   content_part.done
        function:  function_call_arguments.delta*, function_call_arguments.done
    response.output_item.done (with the whole item: agents read the item from it),
    response.completed | response.incomplete (finish `length` / `content_filter`),
    or response.failed.

Items are sequential: one is open at a time and closes when another starts. A non-stream
answer is the same run with the events discarded (`response`). A chat answer that ends
without a finish reason is not complete and ends as `response.failed`, never as completed.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, Final

from privproxy.api.translate.chat_stream import (
    Delta,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from privproxy.api.translate.errors import UnexpectedAnswerError
from privproxy.api.translate.responses_request import ChatRequest, FunctionName
from privproxy.jsoncodec import compact_encode, utf8

Event = dict[str, Any]
NewId = Callable[[str], str]

_INCOMPLETE: Final = {"length": "max_output_tokens", "content_filter": "content_filter"}


def random_id(prefix: str) -> str:
    """`prefix` + 48 random hex digits from the OS (response ids: the store's keys)."""
    return f"{prefix}_{secrets.token_hex(24)}"


_ITEM_IDS = random.Random(secrets.randbits(128))  # noqa: S311 - ids, not secrets


def item_id(prefix: str) -> str:
    """`prefix` + 48 pseudo-random hex digits: item and call ids name parts of one answer and
    protect nothing, so they cost no system call."""
    return f"{prefix}_{_ITEM_IDS.getrandbits(192):048x}"


@dataclass(slots=True)
class _Item:
    kind: str  # "message" | "reasoning" | "function_call"
    id: str
    output_index: int
    parts: list[str] = field(default_factory=list)
    chat_index: int = -1  # function calls: the chat tool call index
    call_id: str = ""
    name: FunctionName | None = None
    delta_sse: str = ""  # message items: text-delta SSE between sequence number and text
    id_json: str = ""  # the id as JSON, once written

    def text(self) -> str:
        return "".join(self.parts)

    def whole(self, status: str) -> dict[str, Any]:
        """The item as `output_item.done` and the final `output` carry it."""
        if self.kind == "message":
            return {
                "type": "message",
                "id": self.id,
                "status": status,
                "role": "assistant",
                "content": [_text_part("output_text", self.text())],
            }
        if self.kind == "reasoning":
            return {
                "type": "reasoning",
                "id": self.id,
                "summary": [],
                "content": [_text_part("reasoning_text", self.text())],
            }
        assert self.name is not None
        item: dict[str, Any] = {
            "type": "function_call",
            "id": self.id,
            "call_id": self.call_id,
            "name": self.name.name,
            "arguments": self.text(),
            "status": status,
        }
        if self.name.namespace is not None:
            item["namespace"] = self.name.namespace
        return item


def _text_part(kind: str, text: str) -> dict[str, Any]:
    if kind == "output_text":
        return {"type": kind, "text": text, "annotations": [], "logprobs": []}
    return {"type": kind, "text": text}


def usage_json(usage: Usage) -> dict[str, Any]:
    """Responses `usage` from chat token counts."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _text_delta_json(e: Event) -> str:
    """`compact_encode(e)` for a text delta event as `ResponseBuilder.feed` makes it (same
    keys in the same order; checked, else the general encoder), written by a template."""
    seq, item, index, delta = e["sequence_number"], e["item_id"], e["output_index"], e["delta"]
    if (
        type(seq) is not int
        or type(index) is not int
        or type(item) is not str
        or type(delta) is not str
        or e["content_index"] != 0
        or e["logprobs"] != []
    ):
        return compact_encode(e)
    return (
        f'{{"type":"response.output_text.delta","sequence_number":{seq},'
        f'"item_id":{encode_basestring(item)},"output_index":{index},"content_index":0,'
        f'"delta":{encode_basestring(delta)},"logprobs":[]}}'
    )


_SNAPSHOT_KEYS: Final = ("type", "sequence_number", "response")


def _snapshot_event_json(
    e: Event, shared: dict[int, str], encode: Callable[[dict[str, Any]], str]
) -> str:
    """`compact_encode(e)` for an event carrying a `response` snapshot, the snapshot
    written by `encode` once per `encode_text` call even when several events carry it."""
    if tuple(e) != _SNAPSHOT_KEYS:
        return compact_encode(e)
    kind, seq, snapshot = e["type"], e["sequence_number"], e["response"]
    if type(seq) is not int or type(snapshot) is not dict or type(kind) is not str:
        return compact_encode(e)
    body = shared.get(id(snapshot))
    if body is None:
        body = shared[id(snapshot)] = encode(snapshot)
    return f'{{"type":{encode_basestring(kind)},"sequence_number":{seq},"response":{body}}}'


class ResponseBuilder:
    """One Responses answer built from one chat answer; see the module docstring."""

    def __init__(
        self,
        request: ChatRequest,
        *,
        response_id: str,
        created_at: int,
        store: bool = False,
        new_id: NewId = item_id,
        quiet: bool = False,
    ) -> None:
        self._request = request
        # Quiet: no events are made, only the final response (a non-stream answer).
        self._quiet = quiet
        self._new_id = new_id
        self._seq = 0
        self._open: _Item | None = None
        self._closed_calls: set[int] = set()
        self._output: list[dict[str, Any]] = []
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._ended = False
        self.response: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": created_at,
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            "output": [],
            "usage": None,
            "store": store,
            "truncation": "disabled",
            **request.echo,
        }
        if "tools" in request.echo:  # last: the stream writes the fields before it once
            self.response["tools"] = self.response.pop("tools")

    # -- events ---------------------------------------------------------------------------

    def _next(self) -> int:
        seq = self._seq
        self._seq = seq + 1
        return seq

    def _event(self, kind: str, **fields: Any) -> Event:
        return {"type": kind, "sequence_number": self._next(), **fields}

    def _snapshot(self) -> dict[str, Any]:
        return {**self.response, "output": list(self._output)}

    def start(self) -> list[Event]:
        """`response.created` and `response.in_progress`. Their snapshots leave out the
        echoed `tools` (the request's own; Codex sends ~19 KB of them every turn, and sending
        them three times was a tenth of a turn's CPU); the final response carries them."""
        snapshot = self._snapshot()
        snapshot["tools"] = []
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def feed(self, delta: Delta) -> list[Event]:
        """The events one chat delta causes (none for finish reasons and usage)."""
        if self._ended:
            return []
        events: list[Event] = []
        if isinstance(delta, TextDelta):
            item = self._open
            if item is None or item.kind != "message":
                item = self._ensure("message", events)
            item.parts.append(delta.text)
            if self._quiet:
                return events
            # The hot path (one event per streamed token): the dict written out directly.
            events.append(
                {
                    "type": "response.output_text.delta",
                    "sequence_number": self._next(),
                    "item_id": item.id,
                    "output_index": item.output_index,
                    "content_index": 0,
                    "delta": delta.text,
                    "logprobs": [],
                }
            )
        elif isinstance(delta, ReasoningDelta):
            item = self._ensure("reasoning", events)
            item.parts.append(delta.text)
            if not self._quiet:
                events.append(
                    self._part_event("response.reasoning_text.delta", item, delta=delta.text)
                )
        elif isinstance(delta, ToolCallDelta):
            self._tool_call(delta, events)
        elif isinstance(delta, Finish):
            self._finish = delta.reason
        else:
            self._usage = delta
        return events

    def _part_event(self, kind: str, item: _Item, **fields: Any) -> Event:
        extra: dict[str, Any] = {"logprobs": []} if kind.startswith("response.output_text") else {}
        return self._event(
            kind,
            item_id=item.id,
            output_index=item.output_index,
            content_index=0,
            **fields,
            **extra,
        )

    def _ensure(self, kind: str, events: list[Event]) -> _Item:
        item = self._open
        if item is not None and item.kind == kind:
            return item
        self._close(events, "completed")
        prefix = "msg" if kind == "message" else "rs"
        item = _Item(kind, self._new_id(prefix), len(self._output))
        self._open = item
        if self._quiet:
            return item
        added = item.whole("in_progress")
        added["content"] = []  # the part is announced by its own event next
        events.append(
            self._event("response.output_item.added", output_index=item.output_index, item=added)
        )
        part_kind = "output_text" if kind == "message" else "reasoning_text"
        events.append(
            self._part_event("response.content_part.added", item, part=_text_part(part_kind, ""))
        )
        return item

    def _tool_call(self, delta: ToolCallDelta, events: list[Event]) -> None:
        item = self._open
        if item is None or item.kind != "function_call" or item.chat_index != delta.index:
            if delta.index in self._closed_calls:
                raise UnexpectedAnswerError("the model interleaved its tool calls")
            self._close(events, "completed")
            chat_name = delta.name or ""
            name = self._request.functions.get(chat_name, FunctionName(chat_name))
            item = _Item(
                "function_call",
                self._new_id("fc"),
                len(self._output),
                chat_index=delta.index,
                call_id=delta.id or self._new_id("call"),
                name=name,
            )
            self._open = item
            if not self._quiet:
                added = item.whole("in_progress")
                events.append(
                    self._event(
                        "response.output_item.added", output_index=item.output_index, item=added
                    )
                )
        if delta.arguments:
            item.parts.append(delta.arguments)
            if self._quiet:
                return
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item.id,
                    output_index=item.output_index,
                    delta=delta.arguments,
                )
            )

    def _close(self, events: list[Event], status: str) -> None:
        item, self._open = self._open, None
        if item is None:
            return
        whole = item.whole(status)
        index = item.output_index
        if item.kind == "function_call":
            self._closed_calls.add(item.chat_index)
        if self._quiet:
            self._output.append(whole)
            return
        if item.kind == "function_call":
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item.id,
                    output_index=index,
                    name=whole["name"],
                    arguments=whole["arguments"],
                )
            )
        else:
            text = item.text()
            kind = "output_text" if item.kind == "message" else "reasoning_text"
            events.append(self._part_event(f"response.{kind}.done", item, text=text))
            events.append(
                self._part_event("response.content_part.done", item, part=_text_part(kind, text))
            )
        self._output.append(whole)
        events.append(self._event("response.output_item.done", output_index=index, item=whole))

    # -- encoding -------------------------------------------------------------------------

    def encode(self, events: list[Event]) -> bytes:
        """`events` as server-sent events (as `sse.encode_events`, with a template for text
        deltas: one per streamed token)."""
        return utf8(self.encode_text(events))

    def encode_text(self, events: list[Event]) -> str:
        """`encode` before UTF-8: a stream joins it with `text_sse` pieces, then encodes
        once per write."""
        parts = []
        shared: dict[int, str] = {}  # snapshot id -> JSON (created/in_progress share one)
        for event in events:
            kind = event["type"]
            if kind == "response.output_text.delta" and len(event) == 7:
                text = _text_delta_json(event)
            elif "response" in event and len(event) == 3:
                text = _snapshot_event_json(event, shared, self._snapshot_body)
            else:
                text = compact_encode(event)
            parts.append(f"event: {kind}\ndata: {text}\n\n")
        return "".join(parts)

    def _snapshot_body(self, snapshot: dict[str, Any]) -> str:
        """JSON of a `response` snapshot in an event (a streaming builder writes it from a
        template)."""
        return compact_encode(snapshot)

    # -- endings --------------------------------------------------------------------------

    def finish(self) -> list[Event]:
        """Close the answer: `response.completed`, `response.incomplete`, or (no finish
        reason: the chat answer is not whole) `response.failed`."""
        if self._ended:
            return []
        if self._finish is None:
            return self.fail("unexpected_answer", "the model's answer ended before it finished")
        reason = _INCOMPLETE.get(self._finish)
        events: list[Event] = []
        self._close(events, "incomplete" if reason else "completed")
        self._conclude(reason)
        if not self._quiet:
            events.append(
                self._event(f"response.{self.response['status']}", response=self._snapshot())
            )
        return events

    def _conclude(self, reason: str | None) -> None:
        """The response's final state once its items are closed: `incomplete` for `reason`
        (`incomplete_details`), else `completed`, with its output and usage."""
        self._ended = True
        self.response["output"] = list(self._output)
        self.response["usage"] = usage_json(self._usage) if self._usage is not None else None
        if reason is not None:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
        else:
            self.response["status"] = "completed"

    def fail(self, code: str, message: str) -> list[Event]:
        """`response.failed` with `error`; an item still open is left out (it is partial)."""
        if self._ended:
            return []
        self._ended = True
        self._open = None
        self.response["status"] = "failed"
        self.response["error"] = {"code": code, "message": message}
        self.response["output"] = list(self._output)
        return [self._event("response.failed", response=self._snapshot())]

    @property
    def output(self) -> list[dict[str, Any]]:
        """The completed output items so far."""
        return list(self._output)


__all__ = ["Event", "NewId", "ResponseBuilder", "item_id", "random_id", "usage_json"]
