"""Client connections: a cap on how many are open, and a write timeout for clients that stop
reading.

`ConnectionGuard` is the protocol factory the listening socket uses (it wraps aiohttp's
`web.Server`). Every connection holds a file descriptor and some buffers, so their number is
capped (`max_connections`, sized to stay well under the usual 1024-descriptor limit with the
gateway connections counted). At the cap, a new connection first makes room by closing the
oldest connection that has no request in progress (an idle keep-alive connection, or one
that has not finished sending its request head): a flood of idle connections cannot lock out
a health probe or a real request. When every connection is busy, the new one gets a short
503 and is closed.

A client that stops reading while its answer is streamed would hold the answer (and the
upstream connection) as long as the gateway keeps sending. One periodic check (no cost per
write) aborts a connection whose writes have stayed paused, with no progress, for
`write_timeout` seconds; aborting it cancels its handler, which closes the upstream answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

_log = logging.getLogger("privproxy.connections")

_BUSY_BODY: Final = (
    b'{"error":{"message":"Too many open connections; retry shortly",'
    b'"type":"proxy_error","code":"too_many_connections"}}'
)
BUSY_ANSWER: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


class _Refused(asyncio.Protocol):
    """A connection over the cap: one fixed 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY_ANSWER)
        transport.close()


def _busy(conn: RequestHandler) -> bool:
    # aiohttp has no public "request in progress" flag; when this attribute is missing every
    # connection counts as busy, so the cap still holds (new connections are then refused).
    return bool(getattr(conn, "_request_in_progress", True))


class ConnectionGuard:
    """Protocol factory for the listening socket: caps connections, times out stalled writes."""

    def __init__(self, server: web.Server, *, max_connections: int, write_timeout: float) -> None:
        self._server = server
        self._max = max_connections
        self._write_timeout = write_timeout
        self._evicted: set[RequestHandler] = set()
        # Connection → (loop time its writes were first seen paused, bytes then queued).
        self._paused: dict[RequestHandler, tuple[float, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self.refused = 0  # connections answered 503 at the cap
        self.evicted = 0  # idle connections closed to make room

    def __call__(self) -> asyncio.BaseProtocol:
        connections = self._server.connections
        if len(connections) >= self._max and not self._make_room(connections):
            self.refused += 1
            return _Refused()
        return self._server()

    def _make_room(self, connections: list[RequestHandler]) -> bool:
        """Close the oldest idle connection (aiohttp keeps them in opening order). Connections
        closed this way may still be counted until their task ends; they count as room."""
        evicted = self._evicted
        evicted.intersection_update(connections)
        for conn in connections:
            if conn in evicted:
                return True
            if not _busy(conn):
                evicted.add(conn)
                # Not `close()`: on a connection waiting for a request it only cancels the wait
                # and leaves the socket open.
                conn.force_close()
                self.evicted += 1
                return True
        return False

    def close_idle(self) -> None:
        """At shutdown: close idle connections now, busy ones once their answer is done."""
        for conn in self._server.connections:
            if _busy(conn):
                conn.close()
            else:
                conn.force_close()

    def start(self) -> None:
        """Start the write watchdog (call inside the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        """Stop the write watchdog."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        tick = min(1.0, self._write_timeout / 4)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            self.check_writes(loop.time())

    def check_writes(self, now: float) -> None:
        """Abort connections whose writes stayed paused without progress for the timeout."""
        paused: dict[RequestHandler, tuple[float, int]] = {}
        connections = self._server.connections
        if self._evicted:  # forget evicted connections once they are gone
            self._evicted.intersection_update(connections)
        for conn in connections:
            transport = conn.transport
            if transport is None or not conn.writing_paused:
                continue
            queued = transport.get_write_buffer_size()
            since, before = self._paused.get(conn, (now, queued))
            if queued < before:  # the client read something: a new period starts
                since = now
            if now - since >= self._write_timeout:
                _log.warning("Client stopped reading its answer; closing the connection")
                transport.abort()
                continue
            paused[conn] = (since, queued)
        self._paused = paused


__all__ = ["BUSY_ANSWER", "ConnectionGuard"]
