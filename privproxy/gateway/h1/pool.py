"""A keep-alive connection pool to one origin (the PPQ gateway) and its request call.

Why not aiohttp's `ClientSession` for this one hop: it was measured at ~180 us of CPU per
request on this machine's kind, most of the proxy's per-request budget (docs/performance.md);
this client does the same exchange in a fraction of that. It is deliberately small:

* one origin, fixed at construction (`http` or `https` with a verifying TLS context: system
  trust store, hostname check, SNI); no redirects, cookies, proxies or decompression;
* HTTP/1.1 with keep-alive, one exchange per connection at a time, no pipelining; LIFO reuse
  (warm connections first); idle connections are closed after `idle_ttl` seconds;
* at most `limit` connections; further requests wait (FIFO) for one to come back;
* no request is retried: a POST that may have reached the gateway is not sent twice;
* header values are checked here once, so no caller can smuggle CR/LF into the request;
* waits are bounded by the caller (`asyncio.timeout`), connects by `connect_timeout`.
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
from collections.abc import Sequence
from urllib.parse import urlsplit

from privproxy.gateway.h1.body import Body
from privproxy.gateway.h1.connection import Connection
from privproxy.gateway.h1.errors import (
    ConnectError,
    ConnectTimeoutError,
    PoolClosedError,
    TransportError,
)
from privproxy.gateway.h1.parse import Headers

_UNSAFE_VALUE = re.compile(r"[^\t\x20-\x7e]")  # a request header value must be visible ASCII
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(r"/[\x21\x22\x24-\x7e]*")  # visible ASCII but `#` (no fragments)
# Set by the pool itself; a caller supplying them could smuggle a second framing.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class Response:
    """A gateway answer whose head has arrived; the body is read from `content`.

    Exactly one of `release()` (body fully read: the connection goes back to the pool when
    it can) or `close()` (drop the connection) ends it; both are idempotent.
    """

    __slots__ = ("_conn", "_pool", "content", "framed", "headers", "reason", "status")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers,
        conn: Connection,
        pool: Pool,
        framed: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        # The body's end is marked in-band (Content-Length, chunked, or no body at all);
        # False: it ends where the connection closes, and a cut cannot be told from the end.
        self.framed = framed
        body = conn.body
        assert body is not None
        self.content: Body = body
        self._conn: Connection | None = conn
        self._pool = pool

    def release(self) -> None:
        """Give the connection back if the answer ended cleanly, else close it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._put_back(conn)

    def close(self) -> None:
        """Drop the connection (the answer is abandoned)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self._pool._forget(conn)


class Pool:
    """Connections to one `http(s)://host[:port]` origin; `request()` does one exchange."""

    def __init__(
        self,
        base_url: str,
        *,
        limit: int = 512,
        connect_timeout: float = 10.0,
        idle_ttl: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
        default_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        self._host = parts.hostname
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self.path_prefix = parts.path.rstrip("/")
        host_header = f"[{self._host}]" if ":" in self._host else self._host
        if parts.port is not None:
            host_header += f":{parts.port}"
        self._ssl = (ssl_context or ssl.create_default_context()) if self._tls else None
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._idle_ttl = idle_ttl
        self._static = _header_block([("Host", host_header), *default_headers])
        self._idle: list[Connection] = []  # most recently used last
        self._open = 0  # connections open or being opened
        # Requests waiting for the limit, first come first served. A waiter is handed either a
        # connection (`Connection`) or a reserved slot to connect with (`None`) directly, so a
        # request arriving later cannot take it first.
        self._waiters: collections.deque[asyncio.Future[Connection | None]] = collections.deque()
        self._all: set[Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | bytearray | memoryview | None = None,
        *,
        deadline: float | None = None,
    ) -> Response:
        """Send `method target` (path under the base URL's path) and return once the answer's
        head (and its first body bytes) are in. Raises a `TransportError`, or `TimeoutError`
        when the loop time `deadline` passes first; cancelling closes the connection."""
        if (
            not target.startswith("/")
            or _TARGET.fullmatch(target) is None
            or _TOKEN.fullmatch(method) is None
        ):
            raise ValueError("invalid request line")
        target = self.path_prefix + target
        block = _header_block(headers)
        if _RESERVED.intersection(name.lower() for name, _ in headers):
            raise ValueError("Host and framing headers are set by the pool")
        if body is not None:
            # Bytes, not items: `len` of a memoryview counts elements of its format.
            block += f"Content-Length: {memoryview(body).nbytes}\r\n"
        data = f"{method} {target} HTTP/1.1\r\n{self._static}{block}\r\n".encode("ascii")
        conn = None if self._waiters else self._take_idle()  # waiters go first
        if conn is None:
            async with asyncio.timeout_at(deadline):  # waiting for a slot, connecting
                conn = await self._acquire()
        # One timer for the answer instead of a timeout context (this is the hot path).
        timer = None if deadline is None else self._loop().call_at(deadline, conn.time_out)
        try:
            conn.start(method, data, body)
            head = await conn.head()
        except BaseException:
            conn.abandon()
            self._forget(conn)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        framed = head.chunked or head.content_length is not None
        return Response(head.status, head.reason, head.headers, conn, self, framed)

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def close(self) -> None:
        """Close every connection; waiting and later requests fail with `PoolClosedError`."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn.close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosedError("client closed"))
        await asyncio.sleep(0)  # let the transports run connection_lost

    # -- connections ----------------------------------------------------------------------

    def _take_idle(self) -> Connection | None:
        """The most recently used idle connection that is still usable, if any."""
        if self._closed:
            raise PoolClosedError("client closed")
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            conn.close()
            self._forget(conn)
        return None

    async def _acquire(self) -> Connection:
        """A connection: idle, handed over by a finishing request, or newly opened."""
        while True:
            if self._closed:
                raise PoolClosedError("client closed")
            if not self._waiters:
                conn = self._take_idle()
                if conn is not None:
                    return conn
            if self._open < self._limit and not self._waiters:
                self._open += 1  # this request's slot
            else:
                waiter: asyncio.Future[Connection | None] = self._loop().create_future()
                self._waiters.append(waiter)
                try:
                    handed = await waiter
                except BaseException:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                    elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                        self._give_back(waiter.result())  # handed over as we were cancelled
                    raise
                if handed is not None:
                    if handed.usable:
                        return handed
                    handed.close()
                    self._forget(handed)  # its slot goes on to the next waiter
                    continue
                # else: a slot was reserved for this request (already counted in `_open`)
            try:
                return await self._connect()
            except BaseException:
                self._give_back(None)
                raise

    def _give_back(self, conn: Connection | None) -> None:
        """Return a connection (or, with None, a counted slot) to the next waiter or the pool;
        after `close()` a connection is closed instead (and no sweeper is armed)."""
        if conn is not None and self._closed:
            conn.close()
            self._all.discard(conn)  # its slot is released below, not again on connection_lost
            conn = None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            self._open -= 1
        else:
            self._idle.append(conn)
            if self._sweeper is None:
                self._sweeper = self._loop().call_later(self._idle_ttl, self._sweep)

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        # The connection is known from the moment its transport exists: a cancellation that
        # lands after the socket connected but before `create_connection` returned to us (or
        # a timeout during TLS) must close it here, not leave it to the garbage collector.
        made: list[Connection] = []

        def protocol() -> Connection:
            made.append(Connection(loop, self._on_connection_lost))
            return made[-1]

        try:
            async with asyncio.timeout(self._connect_timeout):
                raw, conn = await loop.create_connection(
                    protocol, self._host, self._port, happy_eyeballs_delay=0.25
                )
                if self._ssl is not None:
                    # TLS started on the TCP transport we hold (not `create_connection(ssl=)`),
                    # so the connection can see the ciphertext still unsent below TLS.
                    await self._start_tls(loop, raw, conn)
        except BaseException as exc:
            for made_conn in made:
                made_conn.close()
            if isinstance(exc, TimeoutError):
                raise ConnectTimeoutError("connect timed out") from exc
            if isinstance(exc, OSError | ssl.SSLError):
                raise ConnectError(f"connect failed ({type(exc).__name__})") from exc
            raise
        if self._closed:
            conn.close()
            raise PoolClosedError("client closed")
        self._all.add(conn)
        return conn

    async def _start_tls(
        self, loop: asyncio.AbstractEventLoop, raw: asyncio.Transport, conn: Connection
    ) -> None:
        assert self._ssl is not None
        try:
            tls = await loop.start_tls(raw, conn, self._ssl, server_hostname=self._host)
        except BaseException:
            raw.abort()
            raise
        if tls is None:  # the connection closed during the handshake
            raw.abort()
            raise ConnectionResetError("closed during the TLS handshake")
        conn.use_tls(tls, raw)

    def _put_back(self, conn: Connection) -> None:
        if self._closed or not conn.reusable:
            conn.close()
            self._forget(conn)
            return
        conn.finish()
        conn.idle_since = self._loop().time()
        self._give_back(conn)

    def _forget(self, conn: Connection) -> None:
        """`conn` is closed or closing: its slot goes to the next waiter, or is freed."""
        if conn in self._all:
            self._all.discard(conn)
            if conn in self._idle:
                self._idle.remove(conn)
            self._give_back(None)

    def _on_connection_lost(self, conn: Connection) -> None:
        self._forget(conn)

    def close_idle(self) -> int:
        """Close every idle connection now (busy ones are untouched); returns how many."""
        return self._close_idle_since(float("inf"))

    def _close_idle_since(self, cutoff: float) -> int:
        idle, closed = self._idle, 0
        while idle and idle[0].idle_since <= cutoff:
            conn = idle.pop(0)
            conn.close()
            self._forget(conn)
            closed += 1
        return closed

    def _sweep(self) -> None:
        """Close connections idle for `idle_ttl` (oldest first); re-arm while any remain."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        self._close_idle_since(loop.time() - self._idle_ttl)
        idle = self._idle
        if idle and not self._closed:
            delay = idle[0].idle_since + self._idle_ttl - loop.time()
            self._sweeper = loop.call_later(max(delay, 0.01), self._sweep)


def _header_block(headers: Sequence[tuple[str, str]]) -> str:
    """`Name: value\\r\\n` lines; raises `ValueError` for a name that is not a token or a
    value with anything but visible ASCII, space and HTAB (no header injection)."""
    # One check over all names and one over all values (this runs on every request).
    names = [name for name, _ in headers]
    values = "\t".join(value for _, value in headers)
    if (names and (not all(names) or _TOKEN.fullmatch("".join(names)) is None)) or (
        _UNSAFE_VALUE.search(values) is not None
    ):
        raise ValueError("invalid request header")
    return "".join([f"{name}: {value}\r\n" for name, value in headers])


__all__ = ["Pool", "Response", "TransportError"]
