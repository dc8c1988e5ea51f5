"""A checker for Responses API event sequences (written from the API's event reference, not
from the builder): every test that sees events runs them through `check_events`."""

from __future__ import annotations

from typing import Any

_TERMINAL = {"response.completed", "response.incomplete", "response.failed"}
_PART_DELTAS = {
    "message": ("response.output_text.delta", "response.output_text.done", "output_text"),
    "reasoning": (
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "reasoning_text",
    ),
}


class _Open:
    def __init__(self, item: dict[str, Any], index: int) -> None:
        self.item = item
        self.index = index
        self.deltas: list[str] = []
        self.part_open = False
        self.part_done = False
        self.text_done: str | None = None
        self.args_done: str | None = None


def check_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert that `events` is one valid Responses stream; return the final `response`.

    Checks: consecutive sequence numbers from 0; created then in_progress first; exactly one
    terminal event, last; items added in output_index order, one open at a time; every delta
    names the open item's id and index; the `.done` texts equal the joined deltas; each
    `output_item.done` carries the complete item (text, arguments, name, call_id); the final
    response's `output` is exactly the done items (minus none, for failed: those done)."""
    assert events, "no events"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[1]["type"] == "response.in_progress"
    response_id = events[0]["response"]["id"]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == []
    done_items: list[dict[str, Any]] = []
    current: _Open | None = None
    for event in events[2:-1]:
        kind = event["type"]
        assert kind not in _TERMINAL and kind not in ("response.created", "response.in_progress")
        if kind == "response.output_item.added":
            assert current is None, "an item was added while another is open"
            assert event["output_index"] == len(done_items)
            item = event["item"]
            assert item["id"] and item["type"] in ("message", "reasoning", "function_call")
            if item["type"] == "function_call":
                assert item["call_id"] and item["arguments"] == ""
            current = _Open(item, event["output_index"])
            continue
        assert current is not None, f"{kind} outside an item"
        assert event["output_index"] == current.index
        if kind != "response.output_item.done":
            assert event["item_id"] == current.item["id"]
        item_type = current.item["type"]
        if kind == "response.content_part.added":
            assert item_type in _PART_DELTAS and not current.part_open
            assert event["part"]["type"] == _PART_DELTAS[item_type][2]
            assert event["content_index"] == 0
            current.part_open = True
        elif item_type in _PART_DELTAS and kind == _PART_DELTAS[item_type][0]:
            assert current.part_open and current.text_done is None
            current.deltas.append(event["delta"])
        elif item_type in _PART_DELTAS and kind == _PART_DELTAS[item_type][1]:
            assert current.part_open and current.text_done is None
            assert event["text"] == "".join(current.deltas)
            current.text_done = event["text"]
        elif kind == "response.content_part.done":
            assert current.text_done is not None and not current.part_done
            assert event["part"]["text"] == current.text_done
            current.part_done = True
        elif kind == "response.function_call_arguments.delta":
            assert item_type == "function_call" and current.args_done is None
            current.deltas.append(event["delta"])
        elif kind == "response.function_call_arguments.done":
            assert item_type == "function_call" and current.args_done is None
            assert event["arguments"] == "".join(current.deltas)
            current.args_done = event["arguments"]
        elif kind == "response.output_item.done":
            whole = event["item"]
            assert whole["id"] == current.item["id"] and whole["type"] == item_type
            if item_type == "function_call":
                assert current.args_done is not None
                assert whole["arguments"] == current.args_done
                assert whole["call_id"] == current.item["call_id"]
                assert whole["name"] == current.item["name"]
                assert whole["status"] in ("completed", "incomplete")
            else:
                assert current.part_done, "item done before its content part"
                assert [p["text"] for p in whole["content"]] == [current.text_done]
            if item_type == "message":
                assert whole["role"] == "assistant" and whole["status"] in (
                    "completed",
                    "incomplete",
                )
            done_items.append(whole)
            current = None
        else:
            raise AssertionError(f"unexpected event {kind} in a {item_type} item")
    last = events[-1]
    assert last["type"] in _TERMINAL
    response: dict[str, Any] = last["response"]
    assert response["id"] == response_id
    if last["type"] == "response.failed":
        assert response["status"] == "failed" and response["error"]["message"]
    else:
        assert current is None, "the response ended with an item open"
        assert response["status"] == last["type"].removeprefix("response.")
        assert response["error"] is None
    assert response["output"] == done_items
    return response


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """Parse `event:`/`data:` blocks; each block's event name must equal its data's type."""
    import json

    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        events.append(data)
    return events
