"""A streamed Responses answer written as server-sent-event text (pure).

`ResponseBuilder` makes event objects, which the general encoder turns into JSON at about
8 ns a byte: for a short streamed answer its fixed events (two snapshots at the start, an
item and its part added, their `.done` events and the final snapshot) cost more than the
text. `StreamingResponseBuilder` writes the events of the common case, one message item of
text, straight from templates, and changes the builder's state exactly as the general
methods do, so both can alternate within one answer: anything else (reasoning, tool calls,
an item of another kind still open) goes through `feed`/`finish` and `encode_text`.

Each method's text is, byte for byte, `encode_text` of the events the general method
returns (tests compare the two over arbitrary answers); strings are written by
`encode_basestring`, the general encoder's own string writer.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any, Final

from privproxy.api.translate.chat_stream import Delta, TextDelta
from privproxy.api.translate.responses_events import (
    _INCOMPLETE,
    ResponseBuilder,
    _Item,
)
from privproxy.jsoncodec import compact_encode, encode_exact

_DELTA_HEAD: Final = (
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    '"sequence_number":'
)
_DELTA_TAIL: Final = ',"logprobs":[]}\n\n'
_FIRST_KEYS: Final = (
    "id",
    "object",
    "created_at",
    "status",
    "error",
    "incomplete_details",
    "output",
    "usage",
    "store",
    "truncation",
)
"""The snapshot's own fields, in `ResponseBuilder.response`'s order; the echoed request
fields follow, `tools` last."""


def _null_or_json(value: Any) -> str:
    return "null" if value is None else compact_encode(value)


def _usage_json(usage: Any) -> str:
    # `usage_json` of token counts: integers only.
    return "null" if usage is None else _exact_json(usage)


def _exact_json(value: Any) -> str:
    """`compact_encode(value)`, written by orjson when it can: only for values with no
    NaN or infinity (orjson writes those as `null` where the stdlib refuses them). A float
    may be spelled otherwise (`1e-7`, not `1e-07`): the same value."""
    out = encode_exact(value)
    return compact_encode(value) if out is None else out.decode()


class StreamingResponseBuilder(ResponseBuilder):
    """`ResponseBuilder` with server-sent-event text for the events of a text answer.

    `tools_json`: the JSON text of the request's `tools` (one line), written for them in
    snapshots instead of encoding them again (then the bytes may differ from the general
    encoder's in spelling only: the same JSON value). `exact_echo`: the request was read by
    orjson (`Received.exact`), so the echoed request fields hold no NaN or infinity and
    orjson writes them (as `tools_json`, same values, a float's spelling may differ)."""

    def __init__(
        self,
        *args: Any,
        tools_json: str | None = None,
        exact_echo: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._tools_json = tools_json
        self._echo_encode = _exact_json if exact_echo else compact_encode

    # The echoed request fields before `tools` (their keys, as JSON members, and the
    # number of the response's keys when they were checked).
    _echo: tuple[tuple[str, ...], str, int] | None = None

    def _check(self, snapshot: dict[str, Any]) -> tuple[tuple[str, ...], str, int] | None:
        """The snapshot's layout and own fields checked, the echoed fields written (once:
        they do not change once the answer started); None when it is not of the shape
        `_snapshot_json` writes. The response's keys never change after it is made, and of
        its own fields only `status`, `error`, `incomplete_details`, `output` and `usage`
        do: for the response itself a later call checks its size and `status` alone."""
        keys = tuple(snapshot)
        if keys[:10] != _FIRST_KEYS or keys[-1] != "tools" or len(keys) < 12:
            return None
        if (
            type(snapshot["id"]) is not str
            or type(snapshot["created_at"]) is not int
            or type(snapshot["status"]) is not str
            or type(snapshot["store"]) is not bool
            or type(snapshot["output"]) is not list
            or snapshot["object"] != "response"
            or snapshot["truncation"] != "disabled"
        ):
            return None
        echoed = keys[10:-1]
        known = self._echo
        if known is None or known[0] != echoed:
            members = self._echo_encode({key: snapshot[key] for key in echoed})[1:-1]
            # A snapshot has the response's keys: its layout stands for the response's.
            self._echo = known = (echoed, members, len(keys))
        return known

    def start_sse(self) -> str:
        """`encode_text(start())`, the two events written around one snapshot text."""
        # The response itself stands for its snapshot (no copy): no output yet, no tools
        # (as `start` writes them).
        body = None if self._output else self._snapshot_json(self.response, tools_text="[]")
        if body is None:
            return self.encode_text(self.start())
        seq = self._seq
        self._seq = seq + 2
        return (
            'event: response.created\ndata: {"type":"response.created",'
            f'"sequence_number":{seq},"response":{body}}}\n\n'
            'event: response.in_progress\ndata: {"type":"response.in_progress",'
            f'"sequence_number":{seq + 1},"response":{body}}}\n\n'
        )

    def _snapshot_body(self, snapshot: dict[str, Any]) -> str:
        body = self._snapshot_json(snapshot)
        return compact_encode(snapshot) if body is None else body

    def text_sse(self, text: str) -> str | None:
        """`encode_text(feed(TextDelta(text)))` for a non-empty `text` when no item or a
        message item is open (the hot path: one per streamed token, or per burst); None,
        and nothing changed, otherwise (then `feed` it)."""
        item = self._open
        if not text or self._ended or (item is not None and item.kind != "message"):
            return None
        head = ""
        if item is None:  # the answer's text starts: its item and part are announced
            item = _Item("message", self._new_id("msg"), len(self._output))
            item.id_json = encode_basestring(item.id)
            self._open = item
            seq = self._seq
            self._seq = seq + 2
            index, id_json = item.output_index, item.id_json
            head = (
                'event: response.output_item.added\ndata: {"type":"response.output_item.added",'
                f'"sequence_number":{seq},"output_index":{index},"item":{{"type":"message",'
                f'"id":{id_json},"status":"in_progress","role":"assistant","content":[]}}}}\n\n'
                'event: response.content_part.added\ndata: {"type":"response.content_part.added",'
                f'"sequence_number":{seq + 1},"item_id":{id_json},"output_index":{index},'
                '"content_index":0,"part":{"type":"output_text","text":"","annotations":[],'
                '"logprobs":[]}}\n\n'
            )
        item.parts.append(text)
        seq = self._seq
        self._seq = seq + 1
        mid = item.delta_sse
        if not mid:
            if not item.id_json:
                item.id_json = encode_basestring(item.id)
            mid = item.delta_sse = (
                f',"item_id":{item.id_json},"output_index":{item.output_index},'
                '"content_index":0,"delta":'
            )
        return f"{head}{_DELTA_HEAD}{seq}{mid}{encode_basestring(text)}{_DELTA_TAIL}"

    def delta_sse(self, delta: Delta) -> str:
        """`encode_text(feed(delta))`, a text delta through `text_sse` when it applies."""
        if type(delta) is TextDelta:
            sse = self.text_sse(delta.text)
            if sse is not None:
                return sse
        events = self.feed(delta)  # none for a finish reason or usage
        return self.encode_text(events) if events else ""

    def finish_sse(self) -> str:
        """`encode_text(finish())`."""
        item = self._open
        if self._ended or self._finish is None or (item is not None and item.kind != "message"):
            return self.encode_text(self.finish())
        reason = _INCOMPLETE.get(self._finish)
        status = "incomplete" if reason else "completed"
        out = ""
        item_json = None
        if item is not None:
            self._open = None
            text = item.text()
            text_json = encode_basestring(text)
            id_json = item.id_json or encode_basestring(item.id)
            index, seq = item.output_index, self._seq
            self._seq = seq + 3
            part = f'{{"type":"output_text","text":{text_json},"annotations":[],"logprobs":[]}}'
            item_json = (
                f'{{"type":"message","id":{id_json},"status":"{status}","role":"assistant",'
                f'"content":[{part}]}}'
            )
            where = f'"item_id":{id_json},"output_index":{index},"content_index":0'
            out = (
                'event: response.output_text.done\ndata: {"type":"response.output_text.done",'
                f'"sequence_number":{seq},{where},"text":{text_json},"logprobs":[]}}\n\n'
                'event: response.content_part.done\ndata: {"type":"response.content_part.done",'
                f'"sequence_number":{seq + 1},{where},"part":{part}}}\n\n'
                'event: response.output_item.done\ndata: {"type":"response.output_item.done",'
                f'"sequence_number":{seq + 2},"output_index":{index},"item":{item_json}}}\n\n'
            )
            self._output.append(item.whole(status))
        self._conclude(reason)
        kind = f"response.{status}"
        seq = self._next()
        # Concluded, the response is its final snapshot (`_conclude` set its output).
        body = self._snapshot_json(self.response, item_json)
        if body is None:
            body = compact_encode(self._snapshot())
        end = f'{{"type":"{kind}","sequence_number":{seq},"response":{body}}}'
        return f"{out}event: {kind}\ndata: {end}\n\n"

    def _snapshot_json(
        self,
        snapshot: dict[str, Any],
        last_item: str | None = None,
        tools_text: str | None = None,
    ) -> str | None:
        """`compact_encode(snapshot)` from a template, the echoed fields before `tools`
        written once per answer; None when the snapshot is not of the shape it writes.
        `last_item`: the last output item's JSON, already written; `tools_text`: the JSON
        written for `tools` instead of the snapshot's."""
        known = self._echo
        if known is None or snapshot is not self.response or len(snapshot) != known[2]:
            known = self._check(snapshot)
            if known is None:
                return None
        elif type(snapshot["status"]) is not str:  # the one own field that changes
            return None
        echo = known[1]
        output = snapshot["output"]
        if last_item is not None and output:
            items = [compact_encode(item) for item in output[:-1]] + [last_item]
        else:
            items = [compact_encode(item) for item in output]
        tools = snapshot["tools"]
        return (
            f'{{"id":{encode_basestring(snapshot["id"])},"object":"response",'
            f'"created_at":{snapshot["created_at"]},"status":{encode_basestring(snapshot["status"])},'
            f'"error":{_null_or_json(snapshot["error"])},'
            f'"incomplete_details":{_null_or_json(snapshot["incomplete_details"])},'
            f'"output":[{",".join(items)}],"usage":{_usage_json(snapshot["usage"])},'
            f'"store":{"true" if snapshot["store"] else "false"},"truncation":"disabled",'
            f'{echo},"tools":{tools_text or self._tools_text(tools)}}}'
        )

    def _tools_text(self, tools: Any) -> str:
        if tools == []:
            return "[]"
        if self._tools_json is not None and tools is self._request.echo.get("tools"):
            return self._tools_json  # the client's spelling of this very value
        return compact_encode(tools)


__all__ = ["StreamingResponseBuilder"]
