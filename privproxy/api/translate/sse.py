"""Server-sent events encoding for the translated APIs (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from privproxy.jsoncodec import compact_encode, utf8


def encode_events(events: Iterable[dict[str, Any]]) -> bytes:
    """`event: <type>` / `data: <json>` blocks, one per event, named by each event's `type`."""
    return utf8("".join(f"event: {e['type']}\ndata: {compact_encode(e)}\n\n" for e in events))


__all__ = ["encode_events"]
