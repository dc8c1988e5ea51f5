"""`Pool.close()` leaves nothing armed, even when a waiter that was handed a connection is
cancelled before it resumes (the connection is closed, not put back, and no sweeper timer
outlives the pool).
"""

from __future__ import annotations

import asyncio

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
