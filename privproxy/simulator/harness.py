"""Run the real proxy against the simulated gateway, verified by the real verifier.

`simulated_stack(settings)` starts a `SimulatedGateway` on a free loopback port, then the
proxy with an `AttestedProvider` whose `attestation.Attestor` uses the production policy and
*only* the simulator's roots (`SimulatedWorld.trust()`, passed explicitly). Nothing here is
reachable from `privproxy serve`: production start-up builds its own `Trust.production()`.

Everything the stack serves is marked: `settings.simulated` is forced on (`/health` and the
status page show it) and every response carries `X-Privproxy-Simulated: true`.
`SimulatedLogFormatter` prefixes `[SIMULATED]` to every log line (used by `privproxy demo`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

from privproxy.server.config import Settings
from privproxy.simulator.server import SimulatedGateway, running_gateway

if TYPE_CHECKING:
    from attestation.attestor import Attestor
    from attestation.fetch import Fetcher
    from attestation.v3.attestor import AutoAttestor, V3Attestor

SIMULATED_HEADER: Final = "X-Privproxy-Simulated"
LOG_PREFIX: Final = "[SIMULATED] "

_log = logging.getLogger("privproxy.simulator")


class SimulatedLogFormatter(logging.Formatter):
    """Wraps another formatter and prefixes every line of its output with `[SIMULATED]`."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        return "\n".join(LOG_PREFIX + line for line in text.split("\n"))


def mark_log_handlers(*names: str) -> None:
    """Make every handler of the named loggers (default: privproxy, attestation) mark lines."""
    for name in names or ("privproxy", "attestation"):
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler.formatter, SimulatedLogFormatter):
                handler.setFormatter(SimulatedLogFormatter(handler.formatter))


async def _mark_response(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[SIMULATED_HEADER] = "true"


@dataclass(frozen=True, slots=True)
class SimulatedStack:
    """A running simulated gateway and the proxy verified against it."""

    gateway: SimulatedGateway
    gateway_url: str
    proxy_url: str  # base URL, no `/v1`
    settings: Settings
    app: web.Application

    @property
    def openai_base_url(self) -> str:
        """What an OpenAI client's `base_url` should be."""
        return f"{self.proxy_url}/v1"


def _with_format(
    settings: Settings,
    v2: Attestor,
    gateway: SimulatedGateway,
    gateway_url: str,
    fetcher: Fetcher,
) -> Attestor | V3Attestor | AutoAttestor:
    """The attestor for `settings.attestation`: the gateway also plays the v3 enclave."""
    if settings.attestation == "v2":
        return v2
    from attestation.v3.attestor import AutoAttestor, V3Attestor

    v3 = V3Attestor(
        fetcher,
        trust=gateway.world.trust(),
        repository=settings.v3_repository,
        enclave_url=gateway_url,
        domain=gateway.enclave.domain,
    )
    if settings.attestation == "v3":
        return v3
    return AutoAttestor(v3=v3, v2=v2, api_base=gateway_url)


@contextlib.asynccontextmanager
async def simulated_stack(
    settings: Settings,
    *,
    gateway: SimulatedGateway | None = None,
    gateway_port: int = 0,
) -> AsyncIterator[SimulatedStack]:
    """Serve gateway + proxy until exit.

    `settings.api_base` becomes the gateway URL, `simulated` is forced on, and the state and
    cache directories become a temporary directory removed on exit.
    """
    from attestation.attestor import Attestor
    from attestation.fetch import AiohttpFetcher
    from attestation.policy import Policy
    from privproxy.enclave.attested import AttestedProvider
    from privproxy.server.app import create_app
    from privproxy.server.runner import runner_options

    gateway = gateway or SimulatedGateway()
    async with contextlib.AsyncExitStack() as stack:
        gateway_url = await stack.enter_async_context(running_gateway(gateway, port=gateway_port))
        # Simulated verifications must never reach the user's real audit log or token file.
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="privproxy-sim-")))
        settings = settings.model_copy(
            update={
                "api_base": gateway_url,
                "simulated": True,
                "state_dir": scratch / "state",
                "cache_dir": scratch / "cache",
            }
        )
        fetcher = await stack.enter_async_context(AiohttpFetcher())
        # The production policy, and the simulator's roots handed over explicitly.
        attestor = Attestor(fetcher, policy=Policy.production(), trust=gateway.world.trust())
        provider = AttestedProvider(
            settings, attestor=_with_format(settings, attestor, gateway, gateway_url, fetcher)
        )
        app = create_app(settings, provider=provider)
        app.on_response_prepare.append(_mark_response)
        runner = web.AppRunner(app, **runner_options(settings))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, settings.host, settings.port).start()
        port = int(runner.addresses[0][1])
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        yield SimulatedStack(
            gateway=gateway,
            gateway_url=gateway_url,
            proxy_url=f"http://{host}:{port}",
            settings=settings,
            app=app,
        )


__all__ = [
    "LOG_PREFIX",
    "SIMULATED_HEADER",
    "SimulatedLogFormatter",
    "SimulatedStack",
    "mark_log_handlers",
    "simulated_stack",
]
