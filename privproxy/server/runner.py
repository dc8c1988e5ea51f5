"""Run the proxy inside an event loop: `async with running(settings) as server: ...`.

Used by `privproxy serve`, by `privproxy demo` and by library users::

    async with running(Settings(port=0), provider=my_provider) as server:
        print(server.url)  # http://127.0.0.1:<port>

Handlers are cancelled when their client disconnects (`handler_cancellation=True`), which
is what cancels the upstream request (docs/protocol.md §4.4: Node kept billing after a disconnect).

The listening socket is served through `ConnectionGuard` (connection cap, write timeout).
Shutdown: stop listening and close idle connections, wait for requests in flight up to
`shutdown_timeout`, cut the answers still streaming (`privproxy.server.drain`), and leave
aiohttp only a short grace to cancel what is left, so the whole takes `shutdown_timeout` plus
under a second (aiohttp alone waits its timeout, then again after cancelling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from privproxy.enclave.provider import EnclaveProvider
from privproxy.ops.log_hygiene import MetadataAccessLogger
from privproxy.server.app import create_app
from privproxy.server.config import ConfigError, Settings, is_loopback_host
from privproxy.server.connections import ConnectionGuard
from privproxy.server.drain import CANCEL_GRACE, DRAIN_KEY


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A listening proxy: its bound address and the application behind it."""

    host: str
    port: int
    app: web.Application

    @property
    def url(self) -> str:
        """Base URL of the local endpoint (no trailing slash, no `/v1`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, provider: EnclaveProvider | None = None
) -> AsyncIterator[RunningServer]:
    """Start the proxy on `settings.host:settings.port` (port 0 = pick one) until exit."""
    if settings.unsafe and not is_loopback_host(settings.host):
        # Settings already refuses this; re-checked here because it must never happen.
        raise ConfigError("--unsafe-hpke-key refuses to bind a non-loopback address")
    app = create_app(settings, provider=provider)
    drain = app.get(DRAIN_KEY)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        # Access lines only with --debug, and metadata only (no query string, no headers).
        access_log=logging.getLogger("privproxy.access") if settings.debug else None,
        access_log_class=MetadataAccessLogger,
        # The graceful wait is ours (below); aiohttp only cancels what is left.
        shutdown_timeout=CANCEL_GRACE,
    )
    await runner.setup()
    listener: asyncio.Server | None = None
    guard: ConnectionGuard | None = None
    try:
        assert runner.server is not None
        guard = ConnectionGuard(
            runner.server,
            max_connections=settings.max_connections,
            write_timeout=settings.client_write_timeout,
        )
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(guard, settings.host, settings.port)
        guard.start()
        port = settings.port
        for sock in listener.sockets:
            port = int(sock.getsockname()[1])
            break
        yield RunningServer(settings.host, port, app)
    finally:
        if listener is not None:
            listener.close()  # no new connections from here on
        if guard is not None:
            guard.close_idle()
        if drain is not None:
            await drain.wait(settings.shutdown_timeout)
            await drain.cut()
        if guard is not None:
            await guard.stop()
        await runner.cleanup()


__all__ = ["RunningServer", "running"]
