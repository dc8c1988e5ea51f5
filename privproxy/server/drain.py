"""Shutdown on time: wait for requests in flight, then cut the answers still streaming.

`Drain` counts the requests being handled (the guard middleware) and knows every answer being
relayed (`privproxy.server.respond.relay`). At shutdown the runner stops listening, waits until
nothing is in flight or `shutdown_timeout` has passed, then interrupts every answer still
running with `ShuttingDownError`: an event stream ends with an SSE error event
(`shutting_down`) and a proper end of its chunked body, an answer whose headers are not out
yet gets a JSON 503, any other body is cut. Whatever is still left after a short grace is
cancelled by aiohttp. The process thus exits within `shutdown_timeout` plus about a second,
whatever the gateway or the clients do.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from aiohttp import web

from privproxy.gateway.forward import ShuttingDownError

if TYPE_CHECKING:
    from privproxy.gateway.forward import Upstream

CUT_GRACE: Final = 0.25
"""Seconds cut answers get to write their error event and end before handlers are cancelled."""
CANCEL_GRACE: Final = 0.2
"""aiohttp's own shutdown timeout: how long cancelled handlers get to finish (it may wait
this twice: before and after cancelling)."""
_POLL: Final = 0.05


class Drain:
    """Requests in flight and answers being relayed, for a timely shutdown."""

    __slots__ = ("answers", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self.answers: set[Upstream] = set()

    async def wait(self, timeout: float) -> None:
        """Return once nothing is in flight, or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self.in_flight or self.answers) and loop.time() < deadline:
            await asyncio.sleep(min(_POLL, max(0.0, deadline - loop.time())))

    async def cut(self) -> None:
        """Interrupt every answer still relayed, then give them `CUT_GRACE` to end."""
        if not self.answers:
            return
        error = ShuttingDownError("The proxy is shutting down; this answer was cut")
        for upstream in list(self.answers):
            upstream.interrupt(error)
        await self.wait(CUT_GRACE)


DRAIN_KEY: Final = web.AppKey("privproxy_drain", Drain)


__all__ = ["CANCEL_GRACE", "CUT_GRACE", "DRAIN_KEY", "Drain"]
