"""The body of one gateway answer as it arrives: buffered pieces, one waiter, backpressure.

The connection feeds decoded pieces in; the proxy takes everything buffered at once
(`read_nowait`) or waits for more (`readany`). Buffering is bounded: above
`HIGH_WATER` bytes the connection stops reading from the socket until the reader catches up,
so a slow local client slows the gateway down instead of growing memory.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

HIGH_WATER: Final = 256 * 1024
PIECE_OVERHEAD: Final = 64
"""Bytes charged per buffered piece besides its payload (object header and list slot)."""


class FlowControl(Protocol):
    """What the body asks of its connection (`privproxy.gateway.h1.connection.Connection`)."""

    def pause_reading(self) -> None:
        """Stop reading from the socket."""

    def resume_reading(self) -> None:
        """Read from the socket again."""


class Body:
    """Pieces of one response body; `readany() == b""` means the body ended."""

    __slots__ = ("_eof", "_exc", "_flow", "_loop", "_parts", "_paused", "_size", "_waiter")

    def __init__(self, flow: FlowControl, loop: asyncio.AbstractEventLoop) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._flow = flow
        self._paused = False
        self._loop = loop

    # -- connection side -------------------------------------------------------------------

    def feed(self, pieces: list[bytes]) -> None:
        """Append body pieces (called by the connection): one read's pieces are joined into one
        object, and each kept object is charged `PIECE_OVERHEAD` bytes on top of its length,
        so a gateway sending 2-byte chunks cannot make the buffer's memory 25x its count."""
        piece = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._parts.append(piece)
        self._size += len(piece) + PIECE_OVERHEAD
        if self._size > HIGH_WATER and not self._paused:
            self._paused = True
            self._flow.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        """The body is complete."""
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        """Fail the body: once the buffered pieces are taken, reads raise `exc`."""
        if self._exc is None and not self._eof:
            self._exc = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- reader side -----------------------------------------------------------------------

    def read_nowait(self) -> bytes:
        """Everything buffered, joined (b"" when nothing is); raises the failure, if any,
        once nothing is buffered."""
        parts = self._parts
        if not parts:
            if self._exc is not None:
                # Without its old traceback: re-raising one instance would grow it per read.
                raise self._exc.with_traceback(None)
            return b""
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            self._flow.resume_reading()
        return data

    def data_waiter(self) -> asyncio.Future[None] | None:
        """None when `read_nowait` has something to say (data, the end or the failure); else
        a future that completes when it has (awaited directly by a caller that keeps its
        coroutine chain short)."""
        if self._parts or self._eof or self._exc is not None:
            return None
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = self._loop.create_future()
        return waiter

    async def readany(self) -> bytes:
        """Wait for at least one byte of body; b"" at the end of the body."""
        while (waiter := self.data_waiter()) is not None:
            await waiter
        return self.read_nowait()

    def at_eof(self) -> bool:
        """The body ended and everything was read."""
        return self._eof and not self._parts

    @property
    def complete(self) -> bool:
        """The body ended cleanly (the reader may still hold unread pieces)."""
        return self._eof


__all__ = ["HIGH_WATER", "PIECE_OVERHEAD", "Body", "FlowControl"]
