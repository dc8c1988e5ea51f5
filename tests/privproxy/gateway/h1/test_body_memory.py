"""Backpressure bounds memory, not only payload: tiny chunks cannot inflate a buffered body.

A hostile gateway answering with 2-byte chunks (`2\\r\\nab\\r\\n`) to a client that does not read
would make every payload byte cost ~25 bytes if each chunk were kept as its own object. `Body`
joins each read's pieces and charges a per-piece overhead, so reading from the socket pauses
while the memory held stays a small multiple of `HIGH_WATER`.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

from privproxy.gateway.h1.body import HIGH_WATER
from privproxy.gateway.h1.connection import Connection

SOCKET_READ = 256 * 1024  # the most one read of an asyncio socket transport returns


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def test_tiny_chunks_stay_within_a_small_multiple_of_high_water() -> None:
    loop = asyncio.get_running_loop()
    conn = Connection(loop, lambda _: None)
    transport = _Transport()
    conn.connection_made(transport)
    conn.start("GET", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None)
    conn.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    one_read = b"2\r\nab\r\n" * (SOCKET_READ // 7)  # what one socket read may deliver
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        reads = 0
        while transport.reading and reads < 100:
            conn.data_received(one_read)
            reads += 1
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert not transport.reading  # backpressure did kick in...
    body = conn.body
    assert body is not None
    buffered = len(body.read_nowait())
    assert buffered <= HIGH_WATER + SOCKET_READ  # ...at the payload bound...
    # ...but the memory held for it is far beyond any small multiple of that bound.
    assert held <= 4 * (HIGH_WATER + SOCKET_READ), f"{held} bytes held for {buffered} buffered"
