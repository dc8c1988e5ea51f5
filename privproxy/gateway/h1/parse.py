"""Sans-I/O parsing of HTTP/1.1 responses from the gateway (RFC 9112), strict and bounded.

Every gateway byte is hostile (README "Security"), so the grammar accepted is the strict one
and every ambiguity that enables response smuggling is an error, not a guess:

* head: `HTTP/1.0` or `HTTP/1.1` status line, CRLF line ends only, header names are tokens,
  values hold no control characters but HTAB, no obs-fold, no space before the colon; at most
  `MAX_HEAD_BYTES` and `MAX_HEADERS`;
* framing: `Transfer-Encoding` must be exactly `chunked` and never comes with
  `Content-Length`; `Content-Length` is decimal digits (a repeated value must be identical);
  with neither, 204/304 have no body and anything else is read until the connection closes;
* chunked: hex sizes of at most 16 digits, extensions and trailers bounded and ignored;
* single-valued headers that decide how the body is read or trusted (`Content-Length`,
  `Content-Type`, `Content-Encoding`, `Ehbp-Response-Nonce`) must not be repeated with
  different values; other repeated headers are joined with ", ".

Decoders turn body bytes into body pieces without copying where a slice suffices; each knows
when the body is complete and which bytes came after it (`extra`: a protocol violation,
the connection is then not reused).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final, TypeVar, overload

from privproxy.gateway.h1.errors import MalformedResponseError

MAX_HEAD_BYTES: Final = 64 * 1024
"""Status line plus headers, terminating blank line excluded."""
MAX_HEADERS: Final = 128
MAX_CHUNK_LINE: Final = 4096
"""A chunk-size line with its extensions."""
MAX_TRAILER_BYTES: Final = 16 * 1024
MAX_CHUNK_SIZE: Final = 1 << 62  # 16 hex digits would allow 2**64; bound it to a sane int

_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
# name ":" value, the value without controls (HTAB allowed; CR and LF only as line ends); a
# leading SP/HTAB (obs-fold) or a space before the colon cannot match the token. The whole
# header block is checked by one match (this runs once per answer), then split.
_FIELD = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*"
_HEADER_BLOCK = re.compile(f"{_FIELD}(?:\r\n{_FIELD})*")
_HEADER_LINE = re.compile(_FIELD.encode())
_DIGITS = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?")
# The common size line (no extension), matched with its CRLF by the fast loop.
_PLAIN_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n")
_SINGLE_VALUED = frozenset(
    {"content-length", "content-type", "content-encoding", "ehbp-response-nonce"}
)


_T = TypeVar("_T")


class Headers(Mapping[str, str]):
    """Response headers, read-only, looked up case-insensitively (names kept lower-case)."""

    __slots__ = ("_map",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._map: dict[str, str] = {k.lower(): v for k, v in (items or {}).items()}

    @classmethod
    def _adopt(cls, lowered: dict[str, str]) -> Headers:
        # The parser builds the lower-cased dict itself; no second pass over it.
        self = cls.__new__(cls)
        self._map = lowered
        return self

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        """The value of `name` (any case), or `default`."""
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._map)!r})"  # names only: values may be secrets


class ResponseHead:
    """A parsed status line and header block (a plain slotted class: built once per answer,
    a frozen dataclass costs several microseconds more)."""

    __slots__ = ("chunked", "content_length", "headers", "keep_alive", "reason", "status")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers,
        keep_alive: bool,
        content_length: int | None,
        chunked: bool,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.keep_alive = keep_alive  # the connection may carry another request after this
        self.content_length = content_length  # None: chunked, close-delimited or no body
        self.chunked = chunked

    @property
    def informational(self) -> bool:
        """A 1xx interim answer: the real one follows on the same connection."""
        return self.status < 200


def parse_head(raw: bytes, *, request_method: str = "POST") -> ResponseHead:
    """Parse a response head: everything before the blank line (CRLF CRLF excluded).

    Raises `MalformedResponseError` for anything outside the strict grammar above.
    """
    if len(raw) > MAX_HEAD_BYTES:
        raise MalformedResponseError("response head too large")
    text = raw.decode("latin-1")
    status_line, _, block = text.partition("\r\n")
    status_match = _STATUS_LINE.fullmatch(status_line)
    if status_match is None:
        raise MalformedResponseError("malformed status line")
    minor, status_raw, reason_raw = status_match.groups()
    headers: dict[str, str] = {}
    if block:
        if _HEADER_BLOCK.fullmatch(block) is None:
            raise MalformedResponseError("malformed response header line")
        lines = block.split("\r\n")
        if len(lines) > MAX_HEADERS:
            raise MalformedResponseError("too many response headers")
        for line in lines:
            name, _, value = line.partition(":")
            name = name.lower()
            value = value.strip(" \t")
            old = headers.get(name)
            if old is None:
                headers[name] = value
            elif name in _SINGLE_VALUED:
                if old != value:
                    raise MalformedResponseError(f"conflicting {name} headers")
            else:
                headers[name] = f"{old}, {value}"
    status = int(status_raw)
    if status == 101:
        raise MalformedResponseError("unexpected protocol switch")
    connection = headers.get("connection", "").lower()
    tokens = {t.strip() for t in connection.split(",")} if connection else set()
    keep_alive = "close" not in tokens and (minor == "1" or "keep-alive" in tokens)
    content_length: int | None = None
    chunked = False
    te = headers.get("transfer-encoding")
    cl = headers.get("content-length")
    if te is not None:
        if cl is not None:
            raise MalformedResponseError("both Transfer-Encoding and Content-Length")
        if te.lower() != "chunked" or minor == "0":
            raise MalformedResponseError("unsupported Transfer-Encoding")
        chunked = True
    elif cl is not None:
        if _DIGITS.fullmatch(cl) is None:
            raise MalformedResponseError("malformed Content-Length")
        content_length = int(cl)
    if status < 200 or status in (204, 304) or request_method == "HEAD":
        if status < 200 and (chunked or content_length):
            raise MalformedResponseError("interim response with a body")
        content_length, chunked = 0, False
    elif content_length is None and not chunked:
        keep_alive = False  # close-delimited: the end of the body is the end of the connection
    return ResponseHead(
        status=status,
        reason=reason_raw or "",
        headers=Headers._adopt(headers),
        keep_alive=keep_alive,
        content_length=content_length,
        chunked=chunked,
    )


class BodyDecoder:
    """Turns the bytes after a head into body pieces. `done` once the body is complete;
    bytes received after the end are kept in `extra` (never part of the body)."""

    done: bool = False
    extra: bytes = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Body pieces contained in `data` (possibly none). Raises on malformed framing."""
        raise NotImplementedError

    def feed_eof(self) -> None:
        """The connection ended: raises `MalformedResponseError` if the body is incomplete."""
        if not self.done:
            raise MalformedResponseError("response body truncated")


class LengthDecoder(BodyDecoder):
    """`Content-Length` framing (also the empty body: length 0)."""

    __slots__ = ("done", "extra", "remaining")

    def __init__(self, length: int) -> None:
        self.remaining = length
        self.done = length == 0
        self.extra = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self.done:
            self.extra += data
            return []
        remaining = self.remaining
        if len(data) <= remaining:
            self.remaining = remaining - len(data)
            self.done = self.remaining == 0
            return [data] if data else []
        self.remaining = 0
        self.done = True
        self.extra = data[remaining:]
        return [data[:remaining]] if remaining else []


class CloseDecoder(BodyDecoder):
    """No length and not chunked: the body runs until the connection closes."""

    __slots__ = ("done", "extra")

    def __init__(self) -> None:
        self.done = False
        self.extra = b""

    def feed(self, data: bytes) -> list[bytes]:
        return [data] if data else []

    def feed_eof(self) -> None:
        self.done = True


_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedDecoder(BodyDecoder):
    """`Transfer-Encoding: chunked`, incremental over any split of the byte stream."""

    __slots__ = ("_remaining", "_state", "_tail", "_trailer_bytes", "done", "extra")

    def __init__(self) -> None:
        self._state = _SIZE
        self._remaining = 0
        self._tail = b""  # an incomplete size line, data terminator or trailer line
        self._trailer_bytes = 0
        self.done = False
        self.extra = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self._tail:
            data = self._tail + data
            self._tail = b""
        out: list[bytes] = []
        pos = 0
        end = len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                out.append(data[pos : pos + take] if take != end or pos else data)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _DATA_END
            elif state == _SIZE:
                pos = _whole_chunks(data, pos, end, out)
                if pos >= end:
                    break
                eol = data.find(b"\r\n", pos, pos + MAX_CHUNK_LINE + 2)
                if eol < 0:
                    # A trailing CR may be the start of the line's CRLF, not line content.
                    if end - pos - (data[end - 1] == 13) > MAX_CHUNK_LINE:
                        raise MalformedResponseError("chunk size line too long")
                    self._tail = data[pos:]
                    break
                m = _CHUNK_SIZE.fullmatch(data, pos, eol)
                if m is None:
                    raise MalformedResponseError("malformed chunk size")
                size = int(m[1], 16)
                if size > MAX_CHUNK_SIZE:
                    raise MalformedResponseError("chunk too large")
                pos = eol + 2
                if size:
                    self._remaining = size
                    self._state = _DATA
                else:
                    self._state = _TRAILER
            elif state == _DATA_END:
                if end - pos < 2:
                    if data[pos:end] != b"\r":
                        raise MalformedResponseError("chunk data not followed by CRLF")
                    self._tail = data[pos:]
                    break
                if data[pos] != 13 or data[pos + 1] != 10:
                    raise MalformedResponseError("chunk data not followed by CRLF")
                pos += 2
                self._state = _SIZE
            elif state == _TRAILER:
                eol = data.find(b"\r\n", pos)
                # Without a CRLF yet, a trailing CR may be the start of one: not line content.
                line_end = eol if eol >= 0 else end - (data[end - 1] == 13)
                self._trailer_bytes += line_end - pos
                if self._trailer_bytes > MAX_TRAILER_BYTES:
                    raise MalformedResponseError("chunked trailer too large")
                if eol < 0:
                    self._tail = data[pos:]
                    self._trailer_bytes -= line_end - pos  # counted again when it completes
                    break
                if eol == pos:
                    pos += 2
                    self._state = _DONE
                    self.done = True
                elif _HEADER_LINE.fullmatch(data, pos, eol) is None:
                    raise MalformedResponseError("malformed chunked trailer")
                else:
                    pos = eol + 2
            else:  # _DONE
                self.extra += data[pos:]
                break
        return out


def _whole_chunks(data: bytes, pos: int, end: int, out: list[bytes]) -> int:
    """Take every whole chunk with a plain size line from `pos` on into `out`; return where
    the first other thing starts (an extension, a partial chunk, the last chunk, a malformed
    line), which the state machine then parses with every check. An SSE answer is one chunk
    per event, many per read: one regex match per chunk instead of three states."""
    match = _PLAIN_SIZE_LINE.match
    append = out.append
    while (m := match(data, pos)) is not None:
        start = m.end()
        stop = start + int(m[1], 16)
        if stop == start or stop + 2 > end:
            break
        if not data.startswith(b"\r\n", stop):
            raise MalformedResponseError("chunk data not followed by CRLF")
        append(data[start:stop])
        pos = stop + 2
    return pos


def decoder_for(head: ResponseHead) -> BodyDecoder:
    """The body decoder that `head`'s framing calls for."""
    if head.chunked:
        return ChunkedDecoder()
    if head.content_length is not None:
        return LengthDecoder(head.content_length)
    return CloseDecoder()


__all__ = [
    "MAX_CHUNK_LINE",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "MAX_TRAILER_BYTES",
    "BodyDecoder",
    "ChunkedDecoder",
    "CloseDecoder",
    "Headers",
    "LengthDecoder",
    "ResponseHead",
    "decoder_for",
    "parse_head",
]
