"""Body decoders of `privproxy.gateway.h1.parse`: reassembly over every split, strict chunk framing.

The decoders see the body bytes however TCP happened to cut them; the decoded body must not
depend on the cut, and nothing after the end of a body may ever be part of it.
"""

from __future__ import annotations

import itertools

import pytest

from privproxy.gateway.h1 import MalformedResponseError
from privproxy.gateway.h1.parse import (
    MAX_CHUNK_LINE,
    MAX_TRAILER_BYTES,
    BodyDecoder,
    ChunkedDecoder,
    CloseDecoder,
    LengthDecoder,
    decoder_for,
    parse_head,
)

# Several chunks (upper/lower-case hex, leading zeros, extensions with and without BWS),
# a last chunk with an extension and two trailer fields: ~100 bytes in all.
CHUNKS = [b"Hello, ", b"chunked", b" world", b"!", b"0123456789abcdef"]
ENCODED = (
    b"7\r\nHello, \r\n"
    b"7;name=value\r\nchunked\r\n"
    b"6 ;ext\r\n world\r\n"
    b"01\r\n!\r\n"
    b'0010;a=1;b="q"\r\n0123456789abcdef\r\n'
    b"0;last\r\n"
    b"X-Trailer: one\r\n"
    b"X-Other:two\r\n"
    b"\r\n"
)
BODY = b"".join(CHUNKS)


def feed_all(decoder: BodyDecoder, *pieces: bytes) -> bytes:
    return b"".join(b"".join(decoder.feed(piece)) for piece in pieces)


def is_done(decoder: BodyDecoder) -> bool:
    """`decoder.done`, read through a call (mypy would keep a narrowed attribute)."""
    return decoder.done


def splits(data: bytes, cuts: tuple[int, ...]) -> list[bytes]:
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_representative_stream_shape() -> None:
    assert 90 <= len(ENCODED) <= 140
    decoder = ChunkedDecoder()
    assert feed_all(decoder, ENCODED) == BODY
    assert decoder.done
    assert decoder.extra == b""


def test_chunked_every_single_split() -> None:
    for cut in range(len(ENCODED) + 1):
        decoder = ChunkedDecoder()
        assert feed_all(decoder, *splits(ENCODED, (cut,))) == BODY, cut
        assert decoder.done, cut
        assert decoder.extra == b"", cut
        decoder.feed_eof()  # complete: no error


def test_chunked_every_pair_of_splits() -> None:
    for cuts in itertools.combinations(range(len(ENCODED) + 1), 2):
        decoder = ChunkedDecoder()
        assert feed_all(decoder, *splits(ENCODED, cuts)) == BODY, cuts
        assert decoder.done, cuts
        assert decoder.extra == b"", cuts


def test_chunked_byte_by_byte() -> None:
    decoder = ChunkedDecoder()
    out = b""
    for i in range(len(ENCODED)):
        assert not decoder.done, i
        out += b"".join(decoder.feed(ENCODED[i : i + 1]))
    assert out == BODY
    assert decoder.done
    assert decoder.extra == b""


def test_chunked_empty_feeds_change_nothing() -> None:
    decoder = ChunkedDecoder()
    pieces: list[bytes] = []
    for piece in splits(ENCODED, (3, 20, 50)):
        pieces += decoder.feed(b"")
        pieces += decoder.feed(piece)
        pieces += decoder.feed(b"")
    assert b"".join(pieces) == BODY
    assert all(pieces)  # never an empty piece
    assert decoder.done


def test_chunked_bytes_after_the_end_go_to_extra_at_every_split() -> None:
    stream = ENCODED + b"HTTP/1.1 200 OK\r\n\r\n"
    for cut in range(len(stream) + 1):
        decoder = ChunkedDecoder()
        assert feed_all(decoder, *splits(stream, (cut,))) == BODY, cut
        assert decoder.done
        assert decoder.extra == b"HTTP/1.1 200 OK\r\n\r\n", cut


def test_chunked_bytes_fed_after_done_go_to_extra() -> None:
    decoder = ChunkedDecoder()
    assert feed_all(decoder, ENCODED) == BODY
    assert decoder.feed(b"more") == []
    assert decoder.feed(b"!") == []
    assert decoder.extra == b"more!"


def test_chunked_empty_body() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"0\r\n\r\n") == []
    assert decoder.done
    assert decoder.extra == b""


def test_chunked_large_chunk_in_network_sized_pieces() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    stream = b"%x\r\n" % len(payload) + payload + b"\r\n0\r\n\r\n"
    decoder = ChunkedDecoder()
    out = bytearray()
    for i in range(0, len(stream), 1400):
        for piece in decoder.feed(stream[i : i + 1400]):
            out += piece
    assert bytes(out) == payload
    assert decoder.done
    assert decoder.extra == b""


@pytest.mark.parametrize(
    "stream",
    [
        b"5\r\nabc",  # inside data
        b"5\r\nabcde",  # data complete, no CRLF yet
        b"5\r\nabcde\r",  # half a CRLF
        b"5\r\nabcde\r\n",  # no last chunk
        b"5",  # inside a size line
        b"0\r\n",  # no end of trailers
        b"0\r\nX: y\r\n",  # trailer, no blank line
        b"0\r\n\r",  # half the final CRLF
        b"",  # nothing at all
    ],
)
def test_chunked_feed_eof_when_incomplete(stream: bytes) -> None:
    decoder = ChunkedDecoder()
    decoder.feed(stream)
    assert not decoder.done
    with pytest.raises(MalformedResponseError):
        decoder.feed_eof()


# --- chunked rejections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream",
    [
        b"g\r\n",  # not hex
        b"5x\r\nabcde\r\n",
        b"\r\n",  # empty size line
        b";ext\r\n",  # extension without a size
        b"-5\r\nabcde\r\n",
        b"+5\r\nabcde\r\n",
        b" 5\r\nabcde\r\n",  # space-prefixed size
        b"\t5\r\nabcde\r\n",
        b"0x5\r\nabcde\r\n",
        b"5\n\r\nabcde\r\n",  # bare LF inside the line
        b"5\rabcde\r\n",  # bare CR
        b"5;ext\x00\r\nabcde\r\n",  # control in an extension
        b"5;ext\x7f\r\nabcde\r\n",
        b"5 5\r\nabcde\r\n",
        b"00000000000000005\r\nabcde\r\n",  # 17 hex digits, even with a small value
        b"10000000000000000\r\n",  # 17 hex digits
        b"ffffffffffffffff\r\n",  # 16 digits, but beyond any sane size
        b"5\r\nabcdeXY",  # data not followed by CRLF
        b"5\r\nabcde\n\r",
        b"5\r\nabcde\r\r",
        b"5\r\nabcde \r\n",
    ],
)
def test_chunked_malformed(stream: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        ChunkedDecoder().feed(stream)


def test_chunk_size_of_16_hex_digits_is_accepted() -> None:
    decoder = ChunkedDecoder()
    assert feed_all(decoder, b"0000000000000003\r\nabc\r\n0\r\n\r\n") == b"abc"
    assert decoder.done


@pytest.mark.parametrize("after", [b"X", b"\n", b"\r"])
def test_missing_crlf_after_data_when_the_next_byte_arrives_alone(after: bytes) -> None:
    decoder = ChunkedDecoder()
    assert feed_all(decoder, b"5\r\nabcde") == b"abcde"
    if after == b"\r":  # a lone CR may be the start of the CRLF: the next byte decides
        decoder.feed(after)
        with pytest.raises(MalformedResponseError):
            decoder.feed(b"X")
    else:
        with pytest.raises(MalformedResponseError):
            decoder.feed(after)


def test_size_line_limit_in_one_piece() -> None:
    exact = b"1;" + b"e" * (MAX_CHUNK_LINE - 2)
    decoder = ChunkedDecoder()
    assert feed_all(decoder, exact + b"\r\nZ\r\n0\r\n\r\n") == b"Z"
    assert decoder.done
    with pytest.raises(MalformedResponseError):
        ChunkedDecoder().feed(exact + b"e\r\nZ\r\n0\r\n\r\n")


def test_size_line_over_the_limit_without_crlf() -> None:
    with pytest.raises(MalformedResponseError):
        ChunkedDecoder().feed(b"1;" + b"e" * MAX_CHUNK_LINE)


def test_size_line_over_the_limit_arriving_in_pieces() -> None:
    decoder = ChunkedDecoder()
    decoder.feed(b"1;")
    with pytest.raises(MalformedResponseError):
        for _ in range(MAX_CHUNK_LINE):
            decoder.feed(b"e")
    assert not decoder.done


def test_size_line_at_the_limit_split_inside_its_crlf() -> None:
    exact = b"1;" + b"e" * (MAX_CHUNK_LINE - 2)
    decoder = ChunkedDecoder()
    assert feed_all(decoder, exact + b"\r", b"\nZ\r\n0\r\n\r\n") == b"Z"
    assert decoder.done


def _trailer(total: int) -> bytes:
    """Trailer lines whose bytes (CRLFs excluded) add up to exactly `total`."""
    lines = []
    while total > 0:
        size = min(total, 1000)
        lines.append(b"X-T:" + b"t" * (size - 4) if size >= 5 else b"X:" + b"t" * (size - 2))
        total -= size
    return b"".join(line + b"\r\n" for line in lines)


def test_trailer_limit_in_one_piece() -> None:
    decoder = ChunkedDecoder()
    assert feed_all(decoder, b"1\r\nZ\r\n0\r\n" + _trailer(MAX_TRAILER_BYTES) + b"\r\n") == b"Z"
    assert decoder.done
    with pytest.raises(MalformedResponseError):
        ChunkedDecoder().feed(b"0\r\n" + _trailer(MAX_TRAILER_BYTES + 1) + b"\r\n")


def test_trailer_over_the_limit_arriving_in_pieces() -> None:
    stream = b"0\r\n" + _trailer(MAX_TRAILER_BYTES + 1) + b"\r\n"
    decoder = ChunkedDecoder()
    with pytest.raises(MalformedResponseError):
        for i in range(0, len(stream), 100):
            decoder.feed(stream[i : i + 100])
    assert not decoder.done


def test_single_trailer_line_over_the_limit_without_crlf() -> None:
    decoder = ChunkedDecoder()
    decoder.feed(b"0\r\nX-T: ")
    with pytest.raises(MalformedResponseError):
        for _ in range(MAX_TRAILER_BYTES // 1000 + 1):
            decoder.feed(b"t" * 1000)


def test_trailer_at_the_limit_split_inside_a_crlf() -> None:
    stream = b"0\r\n" + _trailer(MAX_TRAILER_BYTES) + b"\r\n"
    cut = len(stream) - 3  # ... last-line CR | LF CR LF
    assert stream[cut - 1 : cut] == b"\r"
    decoder = ChunkedDecoder()
    feed_all(decoder, stream[:cut], stream[cut:])
    assert decoder.done


@pytest.mark.parametrize(
    "trailer",
    [
        b"bad line\r\n",
        b"X-A : 1\r\n",
        b": value\r\n",
        b" folded\r\n",
        b"X-A: a\x00b\r\n",
        b"X-A: a\rb\r\n",
        b"X-A: a\nb\r\n",
        b"X(A): 1\r\n",
        b"no-colon\r\n",
    ],
)
def test_malformed_trailer_line(trailer: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        ChunkedDecoder().feed(b"1\r\nZ\r\n0\r\n" + trailer + b"\r\n")


def test_malformed_stream_at_every_split_still_raises() -> None:
    bad = b"5\r\nabcde\r\n3\r\nxyzXY0\r\n\r\n"  # the second chunk lacks its CRLF
    for cut in range(len(bad) + 1):
        decoder = ChunkedDecoder()
        with pytest.raises(MalformedResponseError):
            feed_all(decoder, *splits(bad, (cut,)))
            decoder.feed_eof()


# --- LengthDecoder ---------------------------------------------------------------------------


def test_length_every_split_with_extra() -> None:
    stream = b"0123456789" + b"EXTRA"
    for cut in range(len(stream) + 1):
        decoder = LengthDecoder(10)
        assert feed_all(decoder, *splits(stream, (cut,))) == b"0123456789", cut
        assert decoder.done
        assert decoder.extra == b"EXTRA", cut


def test_length_byte_by_byte() -> None:
    decoder = LengthDecoder(5)
    out = b""
    for byte in b"abcde":
        assert not decoder.done
        out += b"".join(decoder.feed(bytes([byte])))
    assert (out, decoder.done, decoder.extra) == (b"abcde", True, b"")
    decoder.feed_eof()


def test_length_zero_is_done_at_once() -> None:
    decoder = LengthDecoder(0)
    assert decoder.done
    decoder.feed_eof()
    assert decoder.feed(b"junk") == []
    assert decoder.extra == b"junk"


def test_length_feed_eof_when_incomplete() -> None:
    decoder = LengthDecoder(5)
    assert feed_all(decoder, b"abc") == b"abc"
    with pytest.raises(MalformedResponseError):
        decoder.feed_eof()


def test_length_never_returns_empty_pieces() -> None:
    decoder = LengthDecoder(3)
    assert decoder.feed(b"") == []
    assert decoder.feed(b"abc") == [b"abc"]
    assert decoder.feed(b"") == []
    assert decoder.extra == b""


# --- CloseDecoder ----------------------------------------------------------------------------


def test_close_decoder_takes_everything_until_eof() -> None:
    decoder = CloseDecoder()
    assert feed_all(decoder, b"abc", b"", b"HTTP/1.1 200 OK\r\n") == b"abcHTTP/1.1 200 OK\r\n"
    assert not decoder.done
    decoder.feed_eof()  # never an error
    assert is_done(decoder)
    assert decoder.extra == b""


# --- decoder_for -----------------------------------------------------------------------------


def test_decoder_for_chunked() -> None:
    decoder = decoder_for(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"))
    assert isinstance(decoder, ChunkedDecoder)


def test_decoder_for_length() -> None:
    decoder = decoder_for(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 4"))
    assert isinstance(decoder, LengthDecoder)
    assert feed_all(decoder, b"abcdef") == b"abcd"
    assert decoder.extra == b"ef"


def test_decoder_for_close_delimited() -> None:
    assert isinstance(decoder_for(parse_head(b"HTTP/1.1 200 OK")), CloseDecoder)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 204 No Content\r\nContent-Length: 9",
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked",
        b"HTTP/1.1 204 No Content",
    ],
)
def test_decoder_for_bodiless_statuses_is_empty(raw: bytes) -> None:
    decoder = decoder_for(parse_head(raw))
    assert decoder.done
    assert decoder.feed(b"x") == []
    assert decoder.extra == b"x"
