"""Server-sent events encoding for the translated APIs (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring
from typing import Any


def _no_default(obj: object) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _make_encode() -> Callable[[Any], str]:
    # Events are encoded one by one, many per answer: `json.dumps` with options builds a new
    # encoder for every call (about twice the cost of encoding a small event); the same C
    # encoder, built once, gives the identical compact output.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
        return encoder.encode
    c_encode = make(None, _no_default, encode_basestring, None, ":", ",", False, False, True)

    def encode(obj: Any) -> str:
        return "".join(c_encode(obj, 0))

    return encode


_encode = _make_encode()


def encode_events(events: Iterable[dict[str, Any]]) -> bytes:
    """`event: <type>` / `data: <json>` blocks, one per event, named by each event's `type`."""
    text = "".join(f"event: {e['type']}\ndata: {_encode(e)}\n\n" for e in events)
    # A lone surrogate (echoed from a request) cannot be UTF-8; write it as its escape.
    return text.encode("utf-8", "backslashreplace")


__all__ = ["encode_events"]
