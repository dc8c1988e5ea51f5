"""Compact JSON encoding with C encoders built once (pure; shared by the request path and
the translated APIs).

`json.dumps(obj, separators=..., ensure_ascii=False)` and `JSONEncoder.encode` build a new
C encoder on every call (~1.7 us of a small request); the same C encoder, built once, gives
the identical compact output. `ascii_encode` is the same with non-ASCII characters escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_default(obj: object) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _make_encode(ascii_only: bool) -> Callable[[Any], str]:
    # No circular-reference markers: decoded JSON cannot be circular (deep nesting still
    # raises RecursionError); NaN and infinities raise ValueError.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return _ASCII_ENCODER.encode if ascii_only else _ENCODER.encode
    strings = encode_basestring_ascii if ascii_only else encode_basestring
    c_encode = make(None, _no_default, strings, None, ":", ",", False, False, False)

    def encode(obj: Any) -> str:
        return "".join(c_encode(obj, 0))

    return encode


_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
compact_encode: Callable[[Any], str] = _make_encode(ascii_only=False)
"""`obj` as compact JSON text, non-ASCII kept (no `ensure_ascii` escaping)."""
ascii_encode: Callable[[Any], str] = _make_encode(ascii_only=True)
"""`compact_encode` with every non-ASCII character written as a `\\uXXXX` escape (a
surrogate pair beyond the BMP): the same JSON values, as ASCII text. For text with few
non-ASCII characters it is the cheaper one (the C encoder's ASCII mode is faster, and the
UTF-8 of an ASCII string is a copy). A surrogate code point (decoded from a `\\ud800`-style
escape) is written as its escape too, where the UTF-8 of `compact_encode`'s text refuses
it; two adjacent ones then read back as one character."""


def utf8(text: str) -> bytes:
    """`text` (JSON written by `compact_encode`) as UTF-8; a lone surrogate (from a
    `\\ud800` escape in decoded input) is written as its JSON escape instead of failing."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def compact_bytes(obj: Any) -> bytes:
    """`compact_encode` as UTF-8 (see `utf8`)."""
    return utf8(compact_encode(obj))


__all__ = ["ascii_encode", "compact_bytes", "compact_encode", "utf8"]
