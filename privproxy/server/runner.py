"""Run the proxy inside an event loop: `async with running(settings) as server: ...`.

Used by `privproxy serve`, by `privproxy demo` and by library users::

    async with running(Settings(port=0), provider=my_provider) as server:
        print(server.url)  # http://127.0.0.1:<port>

Handlers are cancelled when their client disconnects (`handler_cancellation=True`), which
is what cancels the upstream request (PROTOCOL.md 4.4: Node kept billing after a disconnect).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from privproxy.enclave.provider import EnclaveProvider
from privproxy.ops.log_hygiene import MetadataAccessLogger
from privproxy.server.app import create_app
from privproxy.server.config import ConfigError, Settings, is_loopback_host


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


def runner_options(settings: Settings) -> dict[str, Any]:
    """`web.AppRunner` keyword arguments: handler cancellation, the metadata-only access log
    (with --debug or JSON logs: one structured line per request, what log shippers expect;
    no query string, no headers) and the shutdown grace period."""
    access = settings.debug or settings.log_format == "json"
    return {
        "handler_cancellation": True,
        "access_log": logging.getLogger("privproxy.access") if access else None,
        "access_log_class": MetadataAccessLogger,
        "shutdown_timeout": settings.shutdown_timeout,
    }


@contextlib.asynccontextmanager
async def running(
    settings: Settings, *, provider: EnclaveProvider | None = None
) -> AsyncIterator[RunningServer]:
    """Start the proxy on `settings.host:settings.port` (port 0 = pick one) until exit."""
    if settings.unsafe and not is_loopback_host(settings.host):
        # Settings already refuses this; re-checked here because it must never happen.
        raise ConfigError("--unsafe-hpke-key refuses to bind a non-loopback address")
    app = create_app(settings, provider=provider)
    runner = web.AppRunner(app, **runner_options(settings))
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = settings.port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                port = int(address[1])
                break
        yield RunningServer(settings.host, port, app)
    finally:
        await runner.cleanup()


__all__ = ["RunningServer", "runner_options", "running"]
