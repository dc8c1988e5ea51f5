"""`privproxy demo [--port 8787]`: the whole system, offline, against a simulated enclave.

No API key and no network: the demo generates in memory a simulated AMD chain, Sigstore
instance and enclave (`privproxy.simulator`), serves the simulated PPQ gateway on a free
loopback port, and runs the real proxy on `--port`, which verifies the simulated bundle with
the real verifier and the production policy. Only the roots differ, and they are handed to
the verifier explicitly; `privproxy serve` never sees them.

Everything is marked SIMULATED: every log line (`[SIMULATED]` prefix), every response
(`X-Privproxy-Simulated: true`), `/health` (`"simulated": true`) and the status page banner.
The proxy's state and cache directories are a temporary directory removed on exit
(`simulated_stack`), so the demo leaves nothing behind (no token file, no audit log entries).

`--host` may be a non-loopback address (a container publishing the demo with `docker run -p`)
only together with the local token, exactly as `serve` requires: the demo reads it from
`PRIVPROXY_TOKEN` (it has no state directory to generate one into that would outlive it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Final
from urllib.parse import urlsplit

from pydantic import SecretStr

from privproxy.cli.banner import client_url, curl_example, token_reference
from privproxy.ops.log_setup import configure_logging
from privproxy.server.config import DEFAULT_PORT, ConfigError, Settings, is_loopback_host
from privproxy.server.token import check_token_value

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEMO_API_KEY: Final = "sk-simulated-demo"  # accepted by the simulated gateway only
READY_TIMEOUT: Final = 30.0

_log = logging.getLogger("privproxy.demo")


def build_parser() -> argparse.ArgumentParser:
    """Flags of `privproxy demo`."""
    parser = argparse.ArgumentParser(
        prog="privproxy demo",
        description="Run privproxy against a simulated enclave (offline, no API key needed).",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="proxy port (0 = any)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other address needs PRIVPROXY_TOKEN)",
    )
    parser.add_argument(
        "--gateway-port", type=int, default=0, help="simulated gateway port (default: any free)"
    )
    parser.add_argument("--debug", action="store_true", help="debug logging (metadata only)")
    parser.add_argument(
        "--attestation",
        choices=("v2", "v3", "auto"),
        default="v2",
        help="attestation format the simulated enclave is verified with (default v2)",
    )
    return parser


def usage_text(url: str, token_ref: str | None = None) -> str:
    """How to call the running demo (`token_ref`: shell text for the token, if one is needed)."""
    api_key = '"unused"' if token_ref is None else 'os.environ["PRIVPROXY_TOKEN"]'
    return (
        f"privproxy demo is ready on {url} (SIMULATED enclave, nothing leaves this machine)\n"
        "Try it:\n"
        f"{curl_example(url, token_ref)}\n"
        f'  python: OpenAI(base_url="{url}/v1", api_key={api_key}).chat.completions.create(...)\n'
        f"  status page: {url}/   health: {url}/health\n"
        "Press Ctrl-C to stop."
    )


async def _wait_verified(url: str) -> bool:
    """Poll `/health` until the proxy has verified the simulated enclave."""
    import aiohttp

    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(aiohttp.ClientError, ValueError):
                async with session.get(f"{url}/health") as resp:
                    if (await resp.json()).get("attestation") is True:
                        return True
            await asyncio.sleep(0.1)
    return False


async def run(settings: Settings, *, gateway_port: int, stop: asyncio.Event) -> int:
    """Serve the simulated gateway and the proxy until `stop` is set."""
    from privproxy.simulator import shared_world
    from privproxy.simulator.harness import simulated_stack
    from privproxy.simulator.server import SimulatedGateway

    world = shared_world()
    _log.info(
        "Generated in memory (never written to disk): AMD chain, Sigstore roots, enclave %s",
        world.domain,
    )
    async with simulated_stack(
        settings, gateway=SimulatedGateway(world), gateway_port=gateway_port
    ) as stack:
        _log.info(
            "Simulated PPQ gateway on %s (attestation %s)", stack.gateway_url, settings.attestation
        )
        _log.info("Initializing encrypted connection to secure enclave...")
        # A wildcard bind is reached (and accepted by the Host guard) through loopback.
        url = client_url(stack.settings.host, urlsplit(stack.proxy_url).port or settings.port)
        if not await _wait_verified(url):
            _log.error("the proxy did not verify the simulated enclave in %.0f s", READY_TIMEOUT)
            return EXIT_FAILURE
        _log.info(usage_text(url, token_reference(stack.settings)))
        await stop.wait()
        _log.info("Shutting down...")
    return EXIT_OK


def main(argv: list[str]) -> int:
    """Entry point (dispatched by `privproxy.cli.main`)."""
    args = build_parser().parse_args(argv)
    token = os.environ.get("PRIVPROXY_TOKEN", "").strip() or None
    try:
        if token is not None:
            check_token_value(token)
        elif not is_loopback_host(args.host):
            raise ConfigError(
                f"--host {args.host} is not a loopback address: set PRIVPROXY_TOKEN "
                "(the local token every request must then carry), as `serve` requires"
            )
    except ConfigError as exc:
        print(f"privproxy demo: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(debug=args.debug, secrets=[token] if token else [])
    from privproxy.simulator.harness import mark_log_handlers

    mark_log_handlers()
    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            api_key=SecretStr(DEMO_API_KEY),
            debug=args.debug,
            simulated=True,
            token=SecretStr(token) if token else None,
            attestation=args.attestation,
        )
    except ValueError as exc:
        print(f"privproxy demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_main(settings, args.gateway_port))
    except KeyboardInterrupt:
        return EXIT_OK
    except ConfigError as exc:
        _log.error("%s", exc.message)
        return EXIT_USAGE
    except OSError as exc:
        _log.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror or exc)
        return EXIT_FAILURE


async def _main(settings: Settings, gateway_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return await run(settings, gateway_port=gateway_port, stop=stop)


__all__ = ["DEMO_API_KEY", "build_parser", "main", "run", "usage_text"]
