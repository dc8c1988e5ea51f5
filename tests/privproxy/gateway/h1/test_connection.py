"""`privproxy.gateway.h1.connection.Connection` driven by hand over a fake transport: the head may
arrive cut anywhere (blank line included), interim answers are skipped, and bytes nobody
asked for condemn the connection."""

from __future__ import annotations

import array
import asyncio
import itertools
from typing import Any

import pytest

from privproxy.gateway.h1 import ConnectionLostError, MalformedResponseError
from privproxy.gateway.h1.connection import MAX_INTERIM, SMALL_BODY, Connection
from privproxy.gateway.h1.parse import MAX_HEAD_BYTES

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class FakeTransport(asyncio.Transport):
    """Records writes; `abort()` closes like a socket transport (connection_lost follows)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self.protocol: Connection | None = None
        self.written = bytearray()
        self.writes: list[Any] = []  # the objects passed to write(), as passed
        self.unsent = 0  # what a real transport would still hold in its buffer
        self.closing = False
        self.reading = True

    def write(self, data: Any) -> None:
        self.writes.append(data)
        self.written += data

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.protocol is not None
            self._loop.call_soon(self.protocol.connection_lost, None)

    def close(self) -> None:
        self.abort()

    def lose(self) -> None:
        """The peer closed: connection_lost now, and never again."""
        assert self.protocol is not None and not self.closing
        self.closing = True
        self.protocol.connection_lost(None)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.closed: list[Connection] = []
        self.conn = Connection(self.loop, self.closed.append)
        self.transport = FakeTransport(self.loop)
        self.transport.protocol = self.conn
        self.conn.connection_made(self.transport)

    async def settle(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)


async def read_all(conn: Connection) -> bytes:
    body = conn.body
    assert body is not None
    out = b""
    async with asyncio.timeout(5):
        while chunk := await body.readany():
            out += chunk
    return out


ANSWER = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n"
    b"hello"
)


async def test_request_bytes_are_written_in_order() -> None:
    h = Harness()
    usable_before = h.conn.usable
    h.conn.start("POST", b"POST / HTTP/1.1\r\nContent-Length: 20000\r\n\r\n", b"b" * 20000)
    assert usable_before
    assert not h.conn.usable  # one exchange at a time
    assert bytes(h.transport.written) == (
        b"POST / HTTP/1.1\r\nContent-Length: 20000\r\n\r\n" + b"b" * 20000
    )


async def test_a_large_body_is_handed_to_the_transport_as_a_view_of_itself() -> None:
    # The transport slices off what the socket took; a view slices without copying the rest.
    h = Harness()
    body = bytes(SMALL_BODY + 1)
    h.conn.start("POST", b"POST / HTTP/1.1\r\n\r\n", body)
    head_write, body_write = h.transport.writes
    assert head_write == b"POST / HTTP/1.1\r\n\r\n"
    assert isinstance(body_write, memoryview)
    assert body_write.obj is body
    assert body_write.nbytes == len(body)


async def test_a_small_body_goes_out_with_the_head_in_one_write() -> None:
    h = Harness()
    h.conn.start("POST", b"POST / HTTP/1.1\r\n\r\n", bytearray(b"x" * SMALL_BODY))
    assert h.transport.writes == [b"POST / HTTP/1.1\r\n\r\n" + b"x" * SMALL_BODY]


async def test_a_body_of_wide_items_is_written_as_its_bytes() -> None:
    h = Harness()
    words = memoryview(array.array("I", range(10_000)))  # 40 000 bytes, 10 000 items
    h.conn.start("POST", b"POST / HTTP/1.1\r\n\r\n", words)
    assert bytes(h.transport.written[len(b"POST / HTTP/1.1\r\n\r\n") :]) == words.tobytes()


async def test_not_reusable_while_request_bytes_are_unsent() -> None:
    # The gateway answered before it read the whole body: what is still in our buffer would
    # reach it as the beginning of the next request.
    h = Harness()
    h.conn.start("POST", b"POST / HTTP/1.1\r\n\r\n", bytes(SMALL_BODY * 4))
    h.transport.unsent = SMALL_BODY
    h.conn.data_received(b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno")
    await asyncio.wait_for(h.conn.head(), 5)
    assert await read_all(h.conn) == b"no"
    assert not h.conn.reusable
    h.transport.unsent = 0  # everything sent after all: the same answer may be reused
    assert h.conn.reusable


async def test_not_reusable_while_ciphertext_below_tls_is_unsent() -> None:
    # Under TLS the TLS transport's buffer empties as soon as it has encrypted the request;
    # the ciphertext then waits in the TCP transport below, which counts as well.
    h = Harness()
    raw = h.transport
    tls = FakeTransport(h.loop)
    tls.protocol = h.conn
    h.conn.use_tls(tls, raw)
    h.conn.start("POST", b"POST / HTTP/1.1\r\n\r\n", bytes(SMALL_BODY * 4))
    assert tls.writes and not raw.writes  # the exchange goes through TLS
    raw.unsent = 100
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await asyncio.wait_for(h.conn.head(), 5)
    assert await read_all(h.conn) == b"ok"
    assert h.conn.unsent_bytes() == 100
    assert not h.conn.reusable
    raw.unsent = 0
    assert h.conn.reusable


async def test_answer_cut_at_every_single_point() -> None:
    for cut in range(1, len(ANSWER)):
        h = Harness()
        h.conn.start("GET", REQUEST, None)
        h.conn.data_received(ANSWER[:cut])
        h.conn.data_received(ANSWER[cut:])
        head = await asyncio.wait_for(h.conn.head(), 5)
        assert (head.status, head.headers["x-a"]) == (200, "b"), cut
        assert await read_all(h.conn) == b"hello", cut
        assert h.conn.reusable, cut
        assert not h.transport.closing, cut


async def test_answer_cut_at_every_pair_of_points_around_the_blank_lines() -> None:
    # Every way of cutting each CRLF CRLF (and the bytes around it) in three.
    ends = [i for i in range(len(ANSWER)) if ANSWER.startswith(b"\r\n\r\n", i)]
    points = sorted({p for e in ends for p in range(e - 1, e + 6) if 0 < p < len(ANSWER)})
    for a, b in itertools.combinations(points, 2):
        h = Harness()
        h.conn.start("GET", REQUEST, None)
        for piece in (ANSWER[:a], ANSWER[a:b], ANSWER[b:]):
            h.conn.data_received(piece)
        head = await asyncio.wait_for(h.conn.head(), 5)
        assert head.status == 200, (a, b)
        assert await read_all(h.conn) == b"hello", (a, b)


async def test_answer_byte_by_byte() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    for i in range(len(ANSWER)):
        h.conn.data_received(ANSWER[i : i + 1])
    head = await asyncio.wait_for(h.conn.head(), 5)
    assert head.status == 200
    assert await read_all(h.conn) == b"hello"
    assert h.conn.reusable


async def test_interim_answers_limit() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 204 No Content\r\n\r\n"
    ok = Harness()
    ok.conn.start("GET", REQUEST, None)
    ok.conn.data_received(interim * MAX_INTERIM + final)
    assert (await asyncio.wait_for(ok.conn.head(), 5)).status == 204

    too_many = Harness()
    too_many.conn.start("GET", REQUEST, None)
    too_many.conn.data_received(interim * (MAX_INTERIM + 1) + final)
    with pytest.raises(MalformedResponseError):
        await asyncio.wait_for(too_many.conn.head(), 5)
    assert too_many.transport.closing


def _head_of_size(size: int) -> bytes:
    base = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
    return base + b"a" * (size - len(base))


async def test_head_of_maximal_size_in_one_read() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(_head_of_size(MAX_HEAD_BYTES) + b"\r\n\r\nok")
    head = await asyncio.wait_for(h.conn.head(), 5)
    assert len(head.headers["x-pad"]) > 60000
    assert await read_all(h.conn) == b"ok"


async def test_head_of_maximal_size_cut_inside_the_blank_line() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(_head_of_size(MAX_HEAD_BYTES) + b"\r")
    h.conn.data_received(b"\n\r\nok")
    head = await asyncio.wait_for(h.conn.head(), 5)
    assert head.status == 200


async def test_endless_head_is_refused_once_over_the_limit() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nX-Pad: ")
    for _ in range(MAX_HEAD_BYTES // 4096 + 1):
        h.conn.data_received(b"a" * 4096)
        if h.transport.closing:
            break
    assert h.transport.closing
    with pytest.raises(MalformedResponseError):
        await asyncio.wait_for(h.conn.head(), 5)


async def test_bytes_while_idle_condemn_the_connection() -> None:
    h = Harness()
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # unasked
    assert h.transport.closing
    assert not h.conn.usable
    await h.settle()
    assert h.closed == [h.conn]


async def test_bytes_after_a_complete_answer_condemn_the_connection() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await asyncio.wait_for(h.conn.head(), 5)
    assert h.conn.body is not None
    assert h.conn.body.read_nowait() == b"ok"
    assert h.conn.reusable
    h.conn.data_received(b"X")
    assert h.transport.closing
    assert not h.conn.reusable


async def test_extra_bytes_in_the_same_read_forbid_reuse() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
    await asyncio.wait_for(h.conn.head(), 5)
    assert await read_all(h.conn) == b"ok"  # the extra bytes are not body
    assert not h.conn.reusable


async def test_unread_body_forbids_reuse() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await asyncio.wait_for(h.conn.head(), 5)
    assert not h.conn.reusable  # complete, but the reader has not taken it
    assert await read_all(h.conn) == b"ok"
    assert h.conn.reusable


async def test_connection_lost_before_the_head() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\n")
    h.transport.lose()
    with pytest.raises(ConnectionLostError):
        await asyncio.wait_for(h.conn.head(), 5)
    assert h.closed == [h.conn]
    assert not h.conn.usable


async def test_connection_lost_mid_body() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
    await asyncio.wait_for(h.conn.head(), 5)
    h.transport.lose()
    assert h.conn.body is not None
    assert h.conn.body.read_nowait() == b"half"
    with pytest.raises(ConnectionLostError):
        await h.conn.body.readany()
    assert not h.conn.reusable


async def test_close_delimited_body_ends_with_a_clean_close() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\n\r\nuntil ")
    await asyncio.wait_for(h.conn.head(), 5)
    h.conn.data_received(b"the end")
    h.transport.lose()
    assert await read_all(h.conn) == b"until the end"
    assert not h.conn.reusable  # closed


async def test_body_backpressure_pauses_the_transport() -> None:
    h = Harness()
    h.conn.start("GET", REQUEST, None)
    h.conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 600000\r\n\r\n")
    for _ in range(3):
        h.conn.data_received(b"z" * 100_000)
    assert not h.transport.is_reading()
    assert h.conn.body is not None
    assert h.conn.body.read_nowait() == b"z" * 300_000
    assert h.transport.is_reading()
    h.conn.data_received(b"z" * 300_000)
    assert await read_all(h.conn) == b"z" * 300_000
    assert h.conn.reusable
