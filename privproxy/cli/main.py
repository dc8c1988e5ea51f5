"""Command line: `privproxy [serve] [flags]`, `privproxy verify|demo|client-config ...`.

Exit codes: 0 ok, 1 internal or runtime failure (e.g. the port is taken),
2 usage or configuration error (including a subcommand missing from this build),
10 attestation rejected (used by `privproxy verify`).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privproxy.server.config import Settings

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_ATTESTATION = 10

# Subcommands implemented in their own modules, imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "verify": "privproxy.cli.verify",
    "demo": "privproxy.cli.demo",
    "client-config": "privproxy.cli.client_config",
    "openclaw-config": "privproxy.cli.openclaw",  # alias of `client-config openclaw`
}

_log = logging.getLogger("privproxy")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `privproxy` console script and `python -m privproxy`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        code = _dispatch(args[0], args[1:])
    else:
        code = serve(args[1:] if args and args[0] == "serve" else args)
    if argv is None:  # a real process (console script, `python -m`), about to exit
        _skip_final_collection()
    return code


def _skip_final_collection() -> None:
    """Let interpreter shutdown skip its full garbage collection over every start-up object.

    Interpreter finalisation runs a full collection over everything the imports created
    (sigstore, pydantic and cryptography leave some 50,000 tracked objects): about 40 ms
    of a 0.5 s `privproxy verify`. Frozen objects are ignored by it; the memory is returned
    to the OS at exit either way. Only for a process that is ending: never in a library call.
    """
    import gc

    gc.freeze()


def _dispatch(name: str, rest: list[str]) -> int:
    module_name = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"privproxy {name}: not available in this build", file=sys.stderr)
        return EXIT_USAGE
    entry: Callable[[list[str]], int] = module.main
    return int(entry(rest))


def serve(argv: list[str]) -> int:
    """Run the proxy until SIGINT/SIGTERM."""
    # Imported here, not at module level: `privproxy verify` (a separate subcommand module)
    # needs neither the pydantic Settings nor the aiohttp server parts these pull in.
    import asyncio
    import os

    from privproxy.errors import ProxyError
    from privproxy.ops.log_setup import configure_logging
    from privproxy.server.config import ConfigError, Settings, build_parser
    from privproxy.server.token import resolve_token

    parser = build_parser()
    parser.epilog = (
        "Other commands: privproxy verify | demo | client-config openclaw|codex|claude "
        "(each has --help; openclaw-config = client-config openclaw)."
    )
    namespace = parser.parse_args(argv)
    try:
        settings = Settings.from_namespace(os.environ, namespace)
        local_token = resolve_token(settings)  # generated once into the state dir if needed
    except ConfigError as exc:
        print(f"privproxy: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    secrets = [s.get_secret_value() for s in (settings.api_key, settings.token) if s is not None]
    if local_token is not None:
        secrets.append(local_token)  # also a generated one, which settings do not hold
    configure_logging(debug=settings.debug, secrets=secrets)
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        print(f"privproxy: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except ProxyError as exc:
        print(f"privproxy: {exc.message}", file=sys.stderr)
        return EXIT_INTERNAL
    except OSError as exc:
        print(
            f"privproxy: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK


async def _serve(settings: Settings) -> None:
    import asyncio
    import contextlib
    import signal

    from privproxy.server.api_key_store import has_stored_key, key_setup_hint
    from privproxy.server.runner import running  # keeps `privproxy --help` light
    from privproxy.server.token import token_path, token_required

    if settings.unsafe:
        from privproxy.enclave.unsafe import WARNING

        for _ in range(3):
            _log.warning(WARNING)
    else:
        _log.info("Initializing encrypted connection to secure enclave...")
    if settings.api_key is None and not has_stored_key(settings.state_dir):
        _log.warning(
            "No PPQ API key configured. %s Get a key at https://ppq.ai/api-docs",
            key_setup_hint(token_required(settings)),
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with running(settings) as server:
        _freeze_startup_objects()
        _log_startup(settings, server.url, server.port)
        if token_required(settings):  # where the token is, never its value
            where = "PRIVPROXY_TOKEN" if settings.token else str(token_path(settings.state_dir))
            _log.info(
                "Local token required: send 'Authorization: Bearer <token>' (%s); "
                "in a browser, sign in on the status page",
                where,
            )
        await stop.wait()
        _log.info("\nShutting down...")


def _freeze_startup_objects() -> None:
    """Move everything start-up created out of the collector's sight (`gc.freeze`).

    The imports (aiohttp, pydantic, cryptography, ...) leave ~50,000 tracked objects that
    live as long as the process; every full collection would walk them again (~30-40 ms
    each, a latency spike in whichever request triggers it). Only for the `privproxy`
    process itself, never in library mode (the freeze is process-wide).
    """
    import gc

    gc.collect()
    gc.freeze()


def _log_startup(settings: Settings, url: str, port: int) -> None:
    """The Node proxy's startup lines (docs/protocol.md §4.1), with today's default model.

    The curl works as printed: loopback for a wildcard bind, and the token when one is needed.
    """
    from privproxy.cli.banner import client_url, curl_example, token_reference

    _log.info("PPQ Private Mode proxy listening on %s", url)
    _log.info("Endpoints: GET /v1/models, POST /v1/chat/completions")
    example = curl_example(client_url(settings.host, port), token_reference(settings))
    _log.info("\nSend a test request:\n%s\n", example)


__all__ = ["EXIT_ATTESTATION", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "SUBCOMMANDS", "main"]
