"""Compact JSON coding (pure; shared by the request path and the translated APIs).

Two coders, each where it is the better one:

- The stdlib's C encoder, built once (`json.dumps(obj, separators=..., ensure_ascii=False)`
  and `JSONEncoder.encode` build a new one on every call, ~1.7 us of a small request):
  `compact_encode`, `ascii_encode`. It writes any value the stdlib decoder gives, and
  refuses NaN and infinities.
- orjson for a translated request body, read and written whole (`decode_exact`,
  `encode_exact`): 2x faster to read and 10-17x faster to write than the stdlib for an
  agent's 40 KB request. It is used only where its result is exactly the stdlib's: it refuses
  what it cannot read exactly (NaN, numbers beyond float range, lone surrogate escapes,
  nesting past 1024), and the one value it would change silently, an integer beyond 64
  bits read as a float, is caught after the read (`decode_exact`). The caller then takes
  the stdlib path, which gives the same value or the same error as before.
- orjson, then the stdlib decoder for what orjson refuses, for the model's answers
  (`decode_answer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

import orjson

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _reject_constant(name: str) -> None:
    # NaN/Infinity are not JSON (Node's JSON.parse rejects them; so would the enclave).
    raise ValueError(f"{name} is not valid JSON")


DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""The stdlib decoder, refusing NaN and infinities (built once: `json.loads` with keyword
arguments builds one per call)."""


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


def decode_exact(raw: bytes | bytearray) -> Any:
    """The JSON value of `raw` (UTF-8) read by orjson, when that is exactly the value the
    stdlib decoder gives; else None (the caller decodes with the stdlib, which then gives
    the value or its own error; `null` as a whole body is read as None too, and the stdlib
    reads it the same).

    orjson reads an integer literal beyond the 64-bit range as the nearest float; every such
    float is at least 2**63 in magnitude, and orjson writes every float that large with an
    exponent (`9.223372036854776e+18`), so one `e+` in the value's encoding sends the body to
    the stdlib. So does any other `e+` (a number such as `1e+30`, or those two characters in
    a string): rare, and the stdlib path is merely slower."""
    try:
        value = orjson.loads(raw)
        out = orjson.dumps(value)
        # A two-byte search is slow where "e" is common (~1 ns a byte); "+" is rare.
        if b"+" in out and b"e+" in out:
            return None
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value


def decode_answer(data: bytes | str) -> Any:
    """JSON of the model's answer: read by orjson (about three times the stdlib's speed on
    a stream's chunks); what orjson refuses (lone surrogate escapes, numbers beyond float
    range, nesting past 1024) by `DECODER`, whose value or error (a `ValueError`, or a
    `RecursionError`) stands. orjson reads an integer beyond 64 bits as a float: the
    answer's numbers privproxy reads are indexes and token counts, where a float counts as
    absent."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return DECODER.decode(data if isinstance(data, str) else data.decode())


def encode_exact(obj: Any) -> bytes | None:
    """`obj` as compact UTF-8 JSON written by orjson, or None when orjson cannot write it
    exactly (an integer beyond 64 bits, a lone surrogate, a non-string key): the caller then
    uses `compact_encode`. Only for values read by `decode_exact` and what a translator
    builds from them (no NaN or infinity: orjson writes those as `null`). Floats may be
    spelled differently from the stdlib's (`1e-7`, not `1e-07`), with the same value."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError, and a value nested past 255 levels
        return None


__all__ = [
    "DECODER",
    "ascii_encode",
    "compact_bytes",
    "compact_encode",
    "decode_answer",
    "decode_exact",
    "encode_exact",
    "utf8",
]
