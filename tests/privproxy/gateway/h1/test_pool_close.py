"""`Pool.close()` leaves nothing armed, even when a waiter that was handed a connection is
cancelled before it resumes (the connection is closed, not put back, and no sweeper timer
outlives the pool).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from privproxy.gateway.h1 import Pool
from tests.privproxy.gateway.h1.raw_server import answering, body_of, reply, serve


async def test_close_leaves_no_timer_when_a_handed_over_waiter_is_cancelled() -> None:
    async with serve(answering(reply(b"x"))) as server:
        pool = Pool(server.url, limit=1)
        first = await pool.request("GET", "/")
        await body_of(first)
        second = asyncio.create_task(pool.request("GET", "/"))
        for _ in range(3):
            await asyncio.sleep(0)  # `second` now waits for the only slot
        first.release()  # hands the connection to `second`'s waiter...
        second.cancel()  # ...which is cancelled before it resumes
        await pool.close()
        await asyncio.gather(second, return_exceptions=True)
        assert pool._sweeper is None


async def test_a_connection_made_as_the_request_is_cancelled_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The race: the socket connects (the protocol has its transport), but the request is
    # cancelled before `create_connection` hands the result back. The transport must be
    # closed at once, not found later by the garbage collector (a ResourceWarning).
    loop = asyncio.get_running_loop()
    real = loop.create_connection
    made: list[asyncio.BaseTransport] = []

    async def connected_then_cancelled(factory: Any, *args: Any, **kwargs: Any) -> Any:
        transport, _ = await real(factory, *args, **kwargs)
        made.append(transport)
        raise asyncio.CancelledError

    async with serve(answering(reply(b"x"))) as server:
        pool = Pool(server.url, limit=1)
        monkeypatch.setattr(loop, "create_connection", connected_then_cancelled)
        with pytest.raises(asyncio.CancelledError):
            await pool.request("GET", "/")
        monkeypatch.undo()
        assert len(made) == 1 and made[0].is_closing()
        # The slot came back: the next request connects and is answered.
        answer = await pool.request("GET", "/")
        assert await body_of(answer) == b"x"
        await pool.close()
