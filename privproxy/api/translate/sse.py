"""Server-sent events encoding for the translated APIs (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def _json(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (echoed from a request) cannot be UTF-8; write it as its escape.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encode_events(events: Iterable[dict[str, Any]]) -> bytes:
    """`event: <type>` / `data: <json>` blocks, one per event, named by each event's `type`."""
    return "".join(f"event: {e['type']}\ndata: {_json(e)}\n\n" for e in events).encode()


__all__ = ["encode_events"]
