"""A loopback "gateway" for the h1 client tests that sends exactly the bytes a test writes.

Each accepted connection runs the test's handler with a `ServerConn`; the server records how
many connections it accepted and every request head and body it read. Handler errors are
re-raised when the server stops (a broken handler must fail the test, not vanish in a log).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from privproxy.gateway.h1 import Pool, Response

TIMEOUT = 5.0
"""Bound on every wait in these tests: a hang fails the test instead of the run."""


@dataclass
class Request:
    conn: int  # index of the connection it arrived on
    head: bytes  # request line and headers, up to and including the blank line
    body: bytes


@dataclass
class ServerConn:
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: RawServer
    eof: asyncio.Event = field(default_factory=asyncio.Event)

    async def read_request(self) -> Request | None:
        """The next request (recorded), or None once the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError):
            self.eof.set()
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        request = Request(self.index, head, body)
        self.server.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_eof(self) -> bytes:
        """Everything the client sends until it closes the connection."""
        try:
            rest = await self.reader.read()
        except ConnectionResetError:
            rest = b""
        self.eof.set()
        return rest


Handler = Callable[[ServerConn], Awaitable[None]]


class RawServer:
    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.conns: list[ServerConn] = []
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.accepted = asyncio.Event()  # set at each accept; tests clear it themselves

    @property
    def port(self) -> int:
        assert self._port is not None, "server not started"
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = ServerConn(len(self.conns), reader, writer, self)
        self.conns.append(conn)
        self.accepted.set()
        try:
            await self._handler(conn)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            if not writer.is_closing():
                writer.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in self.conns:
            conn.writer.transport.abort()
        await self._server.wait_closed()
        for _ in range(3):  # let the transports run connection_lost
            await asyncio.sleep(0)
        if self.errors:
            raise self.errors[0]


@contextlib.asynccontextmanager
async def serve(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    server = RawServer(handler, ssl_context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def reply(body: bytes = b"ok", *extra: bytes, status: bytes = b"200 OK") -> bytes:
    """A Content-Length answer."""
    lines = [b"HTTP/1.1 " + status, b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(*chunks: bytes) -> bytes:
    """A chunked answer carrying `chunks` (empty ones skipped)."""
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + encoded + b"0\r\n\r\n"


def answering(*answers: bytes) -> Handler:
    """A keep-alive handler: each request gets the next answer (the last one repeats)."""

    async def handler(conn: ServerConn) -> None:
        i = 0
        while await conn.read_request() is not None:
            await conn.send(answers[min(i, len(answers) - 1)])
            i += 1

    return handler


async def wait(event: asyncio.Event) -> None:
    async with asyncio.timeout(TIMEOUT):
        await event.wait()


@contextlib.asynccontextmanager
async def pool_for(url: str, **options: Any) -> AsyncIterator[Pool]:
    """A `Pool` that is closed at the end, whatever happens."""
    pool = Pool(url, **options)
    try:
        yield pool
    finally:
        await pool.close()


async def body_of(resp: Response) -> bytes:
    """The whole body (raises what reading it raises)."""
    out = bytearray()
    async with asyncio.timeout(TIMEOUT):
        while chunk := await resp.content.readany():
            out += chunk
    return bytes(out)
