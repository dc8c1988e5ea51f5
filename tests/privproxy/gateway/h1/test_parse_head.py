"""`privproxy.gateway.h1.parse.parse_head`: the strict response-head grammar and framing rules.

Every case below that is not a plain, unambiguous HTTP/1.x head must raise
`MalformedResponseError`; the accepted ones must be parsed exactly (status, reason, headers,
framing, keep-alive).
"""

from __future__ import annotations

import pytest

from privproxy.gateway.h1 import Headers, MalformedResponseError, TransportError
from privproxy.gateway.h1.parse import MAX_HEAD_BYTES, MAX_HEADERS, ResponseHead, parse_head


def head(*lines: bytes, status: bytes = b"HTTP/1.1 200 OK") -> bytes:
    """A raw head (status line + header lines, without the terminating blank line)."""
    return b"\r\n".join([status, *lines])


def rejected(raw: bytes, *, method: str = "POST") -> MalformedResponseError:
    with pytest.raises(MalformedResponseError) as info:
        parse_head(raw, request_method=method)
    return info.value


# --- accepted heads ----------------------------------------------------------------------------


def test_plain_http11_head() -> None:
    parsed = parse_head(head(b"Content-Type: text/plain", b"Content-Length: 12"))
    assert isinstance(parsed, ResponseHead)
    assert (parsed.status, parsed.reason) == (200, "OK")
    assert (parsed.keep_alive, parsed.content_length, parsed.chunked) == (True, 12, False)
    assert dict(parsed.headers) == {"content-type": "text/plain", "content-length": "12"}
    assert not parsed.informational


def test_http10_head_with_reason_phrase_of_several_words() -> None:
    parsed = parse_head(head(b"Content-Length: 0", status=b"HTTP/1.0 404 Not Found"))
    assert (parsed.status, parsed.reason) == (404, "Not Found")
    assert parsed.keep_alive is False  # HTTP/1.0 without keep-alive
    assert parsed.content_length == 0


@pytest.mark.parametrize("status", [b"HTTP/1.1 200", b"HTTP/1.1 200 "])
def test_missing_or_empty_reason(status: bytes) -> None:
    parsed = parse_head(head(b"Content-Length: 1", status=status))
    assert (parsed.status, parsed.reason) == (200, "")


def test_reason_may_hold_htab_and_obs_text() -> None:
    parsed = parse_head(head(b"Content-Length: 1", status=b"HTTP/1.1 500 Bad\tthing \xe9"))
    assert parsed.reason == "Bad\tthing \xe9"


def test_status_line_without_headers() -> None:
    parsed = parse_head(b"HTTP/1.1 204 No Content")
    assert (parsed.status, parsed.content_length, parsed.chunked) == (204, 0, False)
    assert len(parsed.headers) == 0
    assert parsed.keep_alive is True


def test_header_lookup_is_case_insensitive() -> None:
    parsed = parse_head(head(b"X-Thing: Value", b"content-length: 3"))
    headers = parsed.headers
    assert headers["x-thing"] == headers["X-THING"] == "Value"  # the value keeps its case
    assert headers.get("X-Thing") == "Value"
    assert headers.get("Content-Length") == "3"
    assert headers.get("missing") is None
    assert headers.get("missing", "dflt") == "dflt"
    assert "X-THING" in headers
    assert "x-thing" in headers
    assert "missing" not in headers
    number: object = 1
    assert number not in headers
    assert sorted(headers) == ["content-length", "x-thing"]
    with pytest.raises(KeyError):
        headers["missing"]


def test_optional_whitespace_around_values_is_stripped_inner_kept() -> None:
    parsed = parse_head(head(b"X-A:   a \t b \t ", b"X-B:b", b"X-C:", b"Content-Length: 0"))
    assert parsed.headers["x-a"] == "a \t b"
    assert parsed.headers["x-b"] == "b"
    assert parsed.headers["x-c"] == ""


def test_obs_text_in_values_is_kept_as_latin1() -> None:
    parsed = parse_head(head(b"X-A: caf\xe9", b"Content-Length: 0"))
    assert parsed.headers["x-a"] == "caf\xe9"


def test_repeated_generic_headers_are_joined() -> None:
    parsed = parse_head(head(b"X-A: 1", b"Content-Length: 0", b"x-a: 2", b"X-A: 3"))
    assert parsed.headers["X-A"] == "1, 2, 3"


@pytest.mark.parametrize(
    "name", [b"Content-Length", b"Content-Type", b"Content-Encoding", b"Ehbp-Response-Nonce"]
)
def test_identical_repeated_single_valued_headers_are_accepted(name: bytes) -> None:
    value = b"7" if name == b"Content-Length" else b"abc"
    parsed = parse_head(head(name + b": " + value, name.upper() + b": " + value))
    assert parsed.headers[name.decode()] == value.decode()  # not "abc, abc"


def test_repeated_content_length_same_value_sets_length() -> None:
    parsed = parse_head(head(b"Content-Length: 7", b"content-length: 7"))
    assert parsed.content_length == 7


def test_chunked_answer() -> None:
    parsed = parse_head(head(b"Transfer-Encoding: chunked"))
    assert parsed.chunked is True
    assert parsed.content_length is None
    assert parsed.keep_alive is True


@pytest.mark.parametrize("value", [b"Chunked", b"CHUNKED", b"  chunked  "])
def test_chunked_is_case_insensitive(value: bytes) -> None:
    assert parse_head(head(b"Transfer-Encoding: " + value)).chunked is True


def test_content_length_leading_zeros_and_18_digits() -> None:
    assert parse_head(head(b"Content-Length: 007")).content_length == 7
    assert parse_head(head(b"Content-Length: " + b"9" * 18)).content_length == 10**18 - 1


# --- keep-alive ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "lines", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK", [b"Content-Length: 1"], True),
        (b"HTTP/1.1 200 OK", [b"Content-Length: 1", b"Connection: close"], False),
        (b"HTTP/1.1 200 OK", [b"Content-Length: 1", b"Connection: CLOSE"], False),
        (b"HTTP/1.1 200 OK", [b"Content-Length: 1", b"Connection: keep-alive, close"], False),
        (b"HTTP/1.1 200 OK", [b"Content-Length: 1", b"Connection: x", b"Connection: close"], False),
        (b"HTTP/1.1 200 OK", [b"Content-Length: 1", b"Connection: keep-alive"], True),
        (b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"], True),
        (b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked", b"Connection: close"], False),
        (b"HTTP/1.0 200 OK", [b"Content-Length: 1"], False),
        (b"HTTP/1.0 200 OK", [b"Content-Length: 1", b"Connection: keep-alive"], True),
        (b"HTTP/1.0 200 OK", [b"Content-Length: 1", b"Connection: Keep-Alive"], True),
        (b"HTTP/1.0 200 OK", [b"Content-Length: 1", b"Connection: keep-alive, close"], False),
        # close-delimited bodies end with the connection
        (b"HTTP/1.1 200 OK", [], False),
        (b"HTTP/1.1 200 OK", [b"Connection: keep-alive"], False),
        (b"HTTP/1.0 200 OK", [b"Connection: keep-alive"], False),
        # no body at all: the connection stays usable
        (b"HTTP/1.1 204 No Content", [], True),
        (b"HTTP/1.1 304 Not Modified", [], True),
    ],
)
def test_keep_alive_rules(status: bytes, lines: list[bytes], keep_alive: bool) -> None:
    assert parse_head(head(*lines, status=status)).keep_alive is keep_alive


def test_close_delimited_body_has_no_length() -> None:
    parsed = parse_head(head(b"Content-Type: text/plain"))
    assert (parsed.content_length, parsed.chunked, parsed.keep_alive) == (None, False, False)


@pytest.mark.parametrize("status", [b"HTTP/1.1 204 No Content", b"HTTP/1.1 304 Not Modified"])
@pytest.mark.parametrize("framing", [[], [b"Content-Length: 10"], [b"Transfer-Encoding: chunked"]])
def test_204_and_304_never_have_a_body(status: bytes, framing: list[bytes]) -> None:
    parsed = parse_head(head(*framing, status=status))
    assert (parsed.content_length, parsed.chunked) == (0, False)


@pytest.mark.parametrize("framing", [[], [b"Content-Length: 10"], [b"Transfer-Encoding: chunked"]])
def test_answer_to_head_has_no_body(framing: list[bytes]) -> None:
    parsed = parse_head(head(*framing), request_method="HEAD")
    assert (parsed.content_length, parsed.chunked) == (0, False)
    assert parsed.keep_alive is True


# --- interim answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [b"HTTP/1.1 100 Continue", b"HTTP/1.1 103 Early Hints"])
def test_1xx_is_informational(status: bytes) -> None:
    parsed = parse_head(head(b"Link: </a>; rel=preload", status=status))
    assert parsed.informational is True
    assert (parsed.content_length, parsed.chunked) == (0, False)


def test_1xx_with_zero_content_length_is_accepted() -> None:
    assert parse_head(head(b"Content-Length: 0", status=b"HTTP/1.1 100 Continue")).informational


@pytest.mark.parametrize("framing", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
def test_1xx_with_a_body_is_rejected(framing: bytes) -> None:
    rejected(head(framing, status=b"HTTP/1.1 100 Continue"))


def test_101_switching_protocols_is_rejected() -> None:
    rejected(head(b"Upgrade: websocket", b"Connection: upgrade", status=b"HTTP/1.1 101 Switching"))


@pytest.mark.parametrize("status", [b"HTTP/1.1 199 X", b"HTTP/1.1 200 OK", b"HTTP/1.1 999 X"])
def test_informational_boundary(status: bytes) -> None:
    assert parse_head(head(b"Content-Length: 0", status=status)).informational is (
        status.startswith(b"HTTP/1.1 1")
    )


# --- rejected status lines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        b"",
        b"HTTP/2 200 OK",
        b"HTTP/2.0 200 OK",
        b"HTTP/1.2 200 OK",
        b"HTTP/0.9 200 OK",
        b"HTTP/1 200 OK",
        b"http/1.1 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 099 OK",
        b"HTTP/1.1 000 OK",
        b"HTTP/1.1 2x0 OK",
        b"HTTP/1.1 -20 OK",
        b"HTTP/1.1 +20 OK",
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1\t200 OK",
        b"HTTP/1.1 200\tOK",
        b" HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK\x00",
        b"HTTP/1.1 200 O\rK",
        b"HTTP/1.1 200 O\nK",
        b"HTTP/1.1 200 OK\x7f",
        b"HTTP/1.1 200 OK\x1b[31m",
        b"HTTP/1.1",
        b"ICY 200 OK",
        b"HTTP/1.1 OK 200",
    ],
)
def test_bad_status_line(status: bytes) -> None:
    rejected(head(b"Content-Length: 0", status=status))


def test_status_line_only_first() -> None:
    # A header block before the status line is not a status line.
    rejected(b"Content-Length: 0\r\nHTTP/1.1 200 OK")


# --- rejected header lines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b" X-Folded: continuation",  # obs-fold (space)
        b"\tX-Folded: continuation",  # obs-fold (tab)
        b"X-A : 1",  # space before the colon
        b"X-A\t: 1",  # tab before the colon
        b": no-name",  # empty name
        b"X-A",  # no colon
        b"",  # an empty line inside the head
        b"X-A: a\x00b",  # NUL
        b"X-A: a\nb",  # bare LF
        b"X-A: a\rb",  # bare CR
        b"X-A: a\r",  # CR at the end
        b"X-A: a\x7fb",  # DEL
        b"X-A: a\x1bb",  # ESC
        b"X-A: \x0b",  # VT
        b"X A: 1",  # space in the name
        b"X(A): 1",
        b"X/A: 1",
        b'X"A: 1',
        b"X@A: 1",
        b"X[A]: 1",
        b"X=A: 1",
        b"X{A}: 1",
        b"X,A: 1",
        b"X;A: 1",
        b"X\\A: 1",
        b"X\xe9: 1",  # non-ASCII name
        b"X\x00: 1",
    ],
)
def test_bad_header_line(line: bytes) -> None:
    rejected(head(b"Content-Length: 0", line))


def test_obs_fold_after_a_valid_header() -> None:
    rejected(head(b"X-A: 1", b" 2", b"Content-Length: 0"))


def test_headers_count_limit() -> None:
    lines = [f"X-{i}: v".encode() for i in range(MAX_HEADERS - 1)]
    parsed = parse_head(head(b"Content-Length: 0", *lines))
    assert len(parsed.headers) == MAX_HEADERS
    rejected(head(b"Content-Length: 0", *lines, b"X-Last: v"))


def test_repeated_headers_count_against_the_limit() -> None:
    lines = [b"X-Same: v"] * MAX_HEADERS
    rejected(head(b"Content-Length: 0", *lines))


def _head_of_size(size: int) -> bytes:
    base = head(b"Content-Length: 0", b"X-Pad: ")
    return base + b"a" * (size - len(base))


def test_head_size_limit() -> None:
    exact = _head_of_size(MAX_HEAD_BYTES)
    assert len(exact) == MAX_HEAD_BYTES
    pad = parse_head(exact).headers["x-pad"]
    assert set(pad) == {"a"}
    assert len(pad) == MAX_HEAD_BYTES - len(head(b"Content-Length: 0", b"X-Pad: "))
    rejected(_head_of_size(MAX_HEAD_BYTES + 1))


# --- rejected framing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        (b"Content-Length", b"5", b"6"),
        (b"Content-Length", b"5", b"05"),
        (b"Content-Type", b"text/plain", b"text/html"),
        (b"Content-Type", b"text/plain", b"Text/Plain"),
        (b"Content-Encoding", b"identity", b"gzip"),
        (b"Ehbp-Response-Nonce", b"aa", b"bb"),
        (b"Ehbp-Response-Nonce", b"aa", b""),
    ],
)
def test_conflicting_single_valued_headers(name: bytes, first: bytes, second: bytes) -> None:
    error = rejected(head(name + b": " + first, name.lower() + b": " + second))
    assert first.decode() not in str(error)  # messages never echo response bytes


@pytest.mark.parametrize(
    "lines",
    [
        [b"Transfer-Encoding: chunked", b"Content-Length: 5"],
        [b"Content-Length: 5", b"Transfer-Encoding: chunked"],
        [b"Content-Length: 0", b"Transfer-Encoding: chunked"],
    ],
)
def test_transfer_encoding_with_content_length(lines: list[bytes]) -> None:
    rejected(head(*lines))


@pytest.mark.parametrize(
    "lines",
    [
        [b"Transfer-Encoding: gzip, chunked"],
        [b"Transfer-Encoding: chunked, gzip"],
        [b"Transfer-Encoding: identity"],
        [b"Transfer-Encoding: gzip"],
        [b"Transfer-Encoding: "],
        [b"Transfer-Encoding: chunked;q=1"],
        [b"Transfer-Encoding: chunked, chunked"],
        [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: xchunked"],
    ],
)
def test_transfer_encoding_other_than_exactly_chunked(lines: list[bytes]) -> None:
    rejected(head(*lines))


def test_transfer_encoding_on_http10() -> None:
    rejected(head(b"Transfer-Encoding: chunked", status=b"HTTP/1.0 200 OK"))


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"abc",
        b"-1",
        b"+1",
        b"0x10",
        b"1a",
        b"1.0",
        b"1e3",
        b"1 2",
        b"1,1",
        b"5, 5",
        b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE (int() would accept it as str)
        b"1" * 19,
        b"9" * 40,
    ],
)
def test_malformed_content_length(value: bytes) -> None:
    rejected(head(b"Content-Length: " + value))


def test_rejections_are_transport_errors() -> None:
    error = rejected(b"garbage")
    assert isinstance(error, TransportError)
    assert error.code == "malformed_response"


# --- Headers -------------------------------------------------------------------------------------


def test_headers_repr_shows_names_but_never_values() -> None:
    parsed = parse_head(head(b"Authorization: Bearer sk-secret-123", b"Content-Length: 0"))
    text = repr(parsed.headers)
    assert "authorization" in text
    assert "content-length" in text
    assert "sk-secret-123" not in text
    assert "Bearer" not in text
    assert "sk-secret-123" not in repr(parsed)


def test_headers_built_from_a_mapping() -> None:
    headers = Headers({"X-Mixed-Case": "v"})
    assert headers["x-mixed-case"] == "v"
    assert list(headers) == ["x-mixed-case"]
    assert len(Headers()) == 0
    assert "v" not in repr(headers).replace("x-mixed-case", "")
