"""A JSON object parsed member by member, with where each member's value is in the text (pure).

The stdlib decoder gives values, not positions. Walking the top-level object here, with the
decoder's own C scanners for every key and value, gives the same values (validity and
values are the decoder's) and the span of each member's value in the text, which lets a
caller reuse the client's own spelling of a value instead of writing it again: the chat
route splices the enclave's model id into the client's bytes; a translated API echoes a
large value (Codex's tools) as the client sent it. Costs about a fifth more than the plain
decode, so callers use it for large bodies only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from json.decoder import scanstring as _scan_string  # type: ignore[attr-defined]
from json.scanner import make_scanner
from typing import Any, cast

from privproxy.jsoncodec import DECODER

# The decoder's own value scanner (C), with its `parse_constant`.
_SCAN_VALUE = make_scanner(DECODER)  # type: ignore[arg-type]  # any decoder is a context
# JSON whitespace, as json.decoder's WHITESPACE; the pattern matches everywhere (maybe empty).
_skip_ws = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)


@dataclass(frozen=True, slots=True)
class Members:
    """A parsed top-level object and where its members' values are in the text."""

    value: dict[str, Any]
    spans: dict[str, tuple[int, int]]  # key → (start, end) of its (first) value
    unique: bool  # False when a key occurs twice (the decoder keeps the last value)
    close: int  # the index of the closing brace


def parse_members(text: str) -> Members | None:
    """Parse `text` like `DECODER.decode`; for a JSON object also the span of each member's
    value. None when `text` is valid JSON but not an object; raises `ValueError` when it is
    not valid JSON (`RecursionError` for nesting bombs). The members are walked exactly as
    `json.decoder.JSONObject` does."""
    end = _skip_ws(text, 0).end()
    if text[end : end + 1] != "{":
        DECODER.decode(text)  # raises, or returns a non-object (it does not start with "{")
        return None
    body: dict[str, Any] = {}
    spans: dict[str, tuple[int, int]] = {}
    unique = True
    end = _skip_ws(text, end + 1).end()
    if text[end : end + 1] == "}":
        close = end
    else:
        while True:
            if text[end : end + 1] != '"':
                raise json.JSONDecodeError("Expecting property name", text, end)
            key, end = _scan_string(text, end + 1, True)
            end = _skip_ws(text, end).end()
            if text[end : end + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, end)
            start = _skip_ws(text, end + 1).end()
            try:
                value, end = _SCAN_VALUE(text, start)
            except StopIteration as exc:
                raise json.JSONDecodeError("Expecting value", text, exc.value) from None
            if key in body:
                unique = False
            else:
                spans[key] = (start, end)
            body[key] = value
            end = _skip_ws(text, end).end()
            delimiter = text[end : end + 1]
            if delimiter == "}":
                close = end
                break
            if delimiter != ",":
                raise json.JSONDecodeError("Expecting ',' delimiter", text, end)
            end = _skip_ws(text, end + 1).end()
    if _skip_ws(text, close + 1).end() != len(text):
        raise json.JSONDecodeError("Extra data", text, close + 1)
    return Members(body, spans, unique, close)


__all__ = ["DECODER", "Members", "parse_members"]
