"""A checker for Anthropic Messages stream event sequences (shared by the Messages tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_DELTA_FOR = {"text": "text_delta", "tool_use": "input_json_delta"}


@dataclass
class Assembled:
    """What a client reassembles from a valid event sequence."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


def check_events(stream: list[dict[str, Any]]) -> Assembled:
    """Assert the documented grammar and return the reassembled message:
    message_start, ping?, (content_block_start, content_block_delta*, content_block_stop)*,
    message_delta, message_stop; block indexes count up from 0, one block open at a time,
    each delta matches its block's type (events are dicts named by their `type`)."""
    assert stream, "no events"
    events = [(e["type"], e) for e in stream]
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"], names
    assert names.count("message_start") == names.count("message_delta") == 1
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == []
    out = Assembled()
    open_index: int | None = None
    partial: dict[int, str] = {}
    for name, data in events[1:-2]:
        if name == "ping":
            continue
        if name == "content_block_start":
            assert open_index is None, "a block opened before the previous one stopped"
            assert data["index"] == len(out.blocks)
            block = dict(data["content_block"])
            assert block["type"] in _DELTA_FOR
            out.blocks.append(block)
            open_index = data["index"]
            partial[open_index] = ""
        elif name == "content_block_delta":
            assert open_index is not None and data["index"] == open_index
            block = out.blocks[open_index]
            delta = data["delta"]
            assert delta["type"] == _DELTA_FOR[block["type"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partial[open_index] += delta["partial_json"]
        elif name == "content_block_stop":
            assert open_index is not None and data["index"] == open_index
            block = out.blocks[open_index]
            if block["type"] == "tool_use":
                # Arguments of only whitespace are an empty input, as in the message.
                block["input"] = json.loads(partial[open_index].strip() or "{}")
                assert isinstance(block["input"], dict)
            open_index = None
        else:
            raise AssertionError(f"unexpected event {name}")
    assert open_index is None, "a block was never stopped"
    final = events[-2][1]
    out.stop_reason = final["delta"]["stop_reason"]
    assert out.stop_reason in {"end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"}
    out.usage = final["usage"]
    assert isinstance(out.usage["output_tokens"], int)
    return out
