"""Strict JSON for v3 documents: UTF-8 only, no duplicate names, no floats, bounded integers.

The standard library parser does the tokenising; hooks turn what it would silently accept
(a repeated member name, a fraction or exponent, NaN, a huge integer) into rejections with
their own codes. Escaped names are compared after decoding, so ``"a"`` and ``"\\u0061"``
collide as they must. Unknown members are the schema layer's job (``document.py``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from attestation.errors import BundleError, Code

_INT_LIMIT = 1 << 64  # the widest integer any v3 schema member holds (uint64)


class _DuplicateNameError(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateNameError(key)
        out[key] = value
    return out


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError("integer out of range")
    value = int(text)
    if not -_INT_LIMIT < value < _INT_LIMIT:
        raise ValueError("integer out of range")
    return value


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text[:20]!r}")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def loads(data: bytes, *, what: str, allow_decimal: bool = False) -> Any:
    """Parse ``data`` strictly; raise V3_ENV_DUPLICATE_MEMBER or V3_ENV_JSON_INVALID.

    ``allow_decimal`` keeps fractions as exact :class:`Decimal` (signed statements carry
    integral numbers that some encoders spell ``8.0``); the caller decides what to accept.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(Code.V3_ENV_JSON_INVALID, f"{what} is not UTF-8") from exc
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_int=_int,
            parse_float=Decimal if allow_decimal else _no_float,
            parse_constant=_no_constant,
        )
    except _DuplicateNameError as exc:
        raise BundleError(
            Code.V3_ENV_DUPLICATE_MEMBER, f"{what} repeats the member name {str(exc)[:40]!r}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise BundleError(Code.V3_ENV_JSON_INVALID, f"{what} is not strict JSON") from exc


__all__ = ["loads"]
