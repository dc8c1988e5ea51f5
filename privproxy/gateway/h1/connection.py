"""One keep-alive HTTP/1.1 connection to the gateway: an asyncio protocol, one exchange at a time.

The protocol parses the answer as bytes arrive (`privproxy.gateway.h1.parse`), hands the head to
the waiting request and feeds body pieces to a `Body`. A connection is reusable only if the
last answer was complete, framed by length or chunks, allowed keep-alive and nothing came
after it, and every byte of the request was sent (an early answer can arrive while the body
is still buffered); anything else closes it. A connection that closes or misbehaves while idle in
the pool is dropped from it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from privproxy.gateway.h1.body import Body
from privproxy.gateway.h1.errors import ConnectionLostError, MalformedResponseError, TransportError
from privproxy.gateway.h1.parse import (
    MAX_HEAD_BYTES,
    BodyDecoder,
    ResponseHead,
    decoder_for,
    parse_head,
)

MAX_INTERIM = 8
"""1xx interim answers skipped before the real one, at most."""
SMALL_BODY = 16 * 1024
"""Request bodies up to this many bytes are sent with the head in one write."""

_IDLE, _HEAD, _BODY, _CLOSED = range(4)


class Connection(asyncio.Protocol):
    """The protocol object of one connection (created by `privproxy.gateway.h1.pool.Pool`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_close: Callable[[Connection], None]):
        self._loop = loop
        self._on_close = on_close
        self.transport: asyncio.Transport | None = None
        # Under TLS, the TCP transport below `transport`: its buffer holds ciphertext that the
        # TLS transport no longer counts as unsent (see `reusable`).
        self._raw_transport: asyncio.Transport | None = None
        self._state = _IDLE
        self._buf = bytearray()  # the head being received
        self._interim = 0
        self._method = "POST"
        self._head_waiter: asyncio.Future[ResponseHead] | None = None
        self._head: ResponseHead | None = None  # parsed, handed over with the first body bytes
        self._decoder: BodyDecoder | None = None
        self._keep_alive = False
        self.body: Body | None = None
        self.idle_since = 0.0  # loop time when it went back to the pool
        self._reading_paused = False
        self._local_close = False  # we aborted: an unfinished body is a failure, not its end

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def use_tls(self, tls: asyncio.Transport, raw: asyncio.Transport) -> None:
        """TLS was started over `raw` (`loop.start_tls`): exchanges now go through `tls`."""
        self.transport = tls
        self._raw_transport = raw

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state == _BODY:
            self._feed_body(data)
        elif state == _HEAD:
            self._feed_head(data)
        else:
            # Bytes nobody asked for (e.g. an answer after a completed one): never trust the
            # connection again.
            self._abort()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        state = self._state
        self._state = _CLOSED
        if state == _HEAD:
            self._fail(ConnectionLostError("connection closed before the answer's head"))
        elif state == _BODY:
            self._hand_over_head()
            decoder, body = self._decoder, self.body
            assert decoder is not None and body is not None
            # Only an orderly close by the peer may end a close-delimited body; a reset or our
            # own abort leaves it unfinished. (Over TLS a close without close_notify also looks
            # orderly here; EHBP's framing still catches a cut inside a frame.)
            if exc is None and not self._local_close:
                with contextlib.suppress(MalformedResponseError):
                    decoder.feed_eof()
            if decoder.done:
                body.feed_eof()
            else:
                body.set_exception(ConnectionLostError("connection closed mid-answer"))
        self._on_close(self)

    # -- body flow control (privproxy.gateway.h1.body.FlowControl) --------------------------------

    def pause_reading(self) -> None:
        if self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self._reading_paused and self._state != _CLOSED:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- the exchange ---------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Open and idle: may carry a new request."""
        return (
            self._state == _IDLE and self.transport is not None and not self.transport.is_closing()
        )

    @property
    def reusable(self) -> bool:
        """The last answer ended cleanly and the connection may carry another request."""
        body = self.body
        transport = self.transport
        return (
            self._state == _BODY
            and self._keep_alive
            and body is not None
            and body.at_eof()
            and transport is not None
            and not transport.is_closing()
            # Request bytes still unsent (the gateway answered early, before reading the whole
            # body): they would reach the gateway as the start of the next request.
            and self.unsent_bytes() == 0
        )

    def unsent_bytes(self) -> int:
        """Request bytes (or their ciphertext) still buffered on our side of the socket. The
        TLS transport counts only what it has not encrypted yet; what it has is buffered in
        the TCP transport below it, so both count."""
        size = 0 if self.transport is None else self.transport.get_write_buffer_size()
        raw = self._raw_transport
        return size if raw is None else size + raw.get_write_buffer_size()

    def start(self, method: str, data: bytes, body: bytes | bytearray | memoryview | None) -> None:
        """Send one request; the answer's head then arrives through `head()`."""
        if not self.usable or self.transport is None:
            raise ConnectionLostError("connection not usable")  # not an assert: survives -O
        self._state = _HEAD
        self._method = method
        self._interim = 0
        self._head_waiter = self._loop.create_future()
        # The body is already in memory (bounded by the server's body limit); what the
        # socket does not take at once stays in the transport's buffer, in order, so the
        # answer is awaited without a drain (an early error answer is still read).
        if body is None:
            self.transport.write(data)
            return
        view = memoryview(body).cast("B")  # bytes, whatever the exporter's item format
        if view.nbytes <= SMALL_BODY:
            self.transport.write(data + view)  # one send for the common small request
        else:
            self.transport.write(data)
            # A view, not the object: the transport slices off what the socket took, and
            # slicing `bytes` would copy the rest once more before buffering it.
            self.transport.write(view)

    async def head(self) -> ResponseHead:
        """The answer's head (1xx interim answers skipped), once its first body bytes are in
        (or the body is complete, or failed): every caller wants them, and handing the head
        over alone would cost an extra wake-up when the two arrive in separate reads."""
        waiter = self._head_waiter
        assert waiter is not None
        return await waiter

    def time_out(self) -> None:
        """The caller's deadline passed before the head was handed over."""
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())

    def abandon(self) -> None:
        """The request gave up (cancelled or failed): close, and consume the head's outcome
        so that no unretrieved exception is left behind."""
        waiter = self._head_waiter
        if waiter is not None:
            if not waiter.done():
                waiter.cancel()
            elif not waiter.cancelled():
                waiter.exception()
        self.close()

    def finish(self) -> None:
        """The exchange is over and the connection goes back to the pool (caller checked
        `reusable`)."""
        self._state = _IDLE
        self._decoder = None
        self.body = None
        self._head_waiter = None
        self._head = None
        self.resume_reading()

    def close(self) -> None:
        """Close now (idempotent); an exchange in progress fails."""
        self._local_close = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing ---------------------------------------------------------------------------

    def _feed_head(self, data: bytes) -> None:
        buf = self._buf
        start = max(0, len(buf) - 3)  # the blank line may straddle two reads
        buf += data
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            # Up to 3 bytes of the blank line may already be here; they are not head bytes.
            if len(buf) > MAX_HEAD_BYTES + 3:
                self._fail(MalformedResponseError("response head too large"))
            return
        raw = bytes(buf[:end])
        rest = bytes(buf[end + 4 :])
        buf.clear()
        try:
            head = parse_head(raw, request_method=self._method)
        except MalformedResponseError as exc:
            self._fail(exc)
            return
        if head.informational:
            self._interim += 1
            if self._interim > MAX_INTERIM:
                self._fail(MalformedResponseError("too many interim answers"))
            elif rest:
                self._feed_head(rest)
            return
        self._keep_alive = head.keep_alive
        self._decoder = decoder_for(head)
        self.body = Body(self, self._loop)
        self._state = _BODY
        self._head = head
        if rest:
            self._feed_body(rest)
        elif self._decoder.done:
            self.body.feed_eof()
            self._hand_over_head()

    def _hand_over_head(self) -> None:
        head, self._head = self._head, None
        waiter = self._head_waiter
        if head is not None and waiter is not None and not waiter.done():
            waiter.set_result(head)

    def _feed_body(self, data: bytes) -> None:
        decoder, body = self._decoder, self.body
        assert decoder is not None and body is not None
        try:
            pieces = decoder.feed(data)
        except MalformedResponseError as exc:
            body.set_exception(exc)
            self._hand_over_head()
            self._abort()
            return
        if pieces:
            body.feed(pieces)
        done = decoder.done
        if done:
            body.feed_eof()
        if self._head is not None and (pieces or done):
            self._hand_over_head()
        if decoder.extra:
            # Bytes after a complete answer (in this read or a later one): the body is
            # intact in `body`, but the connection is never trusted again.
            self._abort()

    def _fail(self, exc: TransportError) -> None:
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        self._keep_alive = False
        self._local_close = True
        if self.transport is not None:
            self.transport.abort()


__all__ = ["MAX_INTERIM", "SMALL_BODY", "Connection"]
