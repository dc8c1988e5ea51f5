"""Logging configuration for the CLI: lines on stderr, plain (`[debug]` prefix like Node) or JSON.

Library code only calls `logging.getLogger("privproxy…")`; this module is the one place
that installs handlers, and only the CLI calls it. Nothing anywhere logs prompts,
completions, keys, tokens or ciphertext; DEBUG carries metadata only (model, sizes, status,
timings).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from privproxy.ops.log_format import LogFormat, formatter_for
from privproxy.ops.log_hygiene import RedactingFilter
from privproxy.ops.request_id import RequestIdFilter


def configure_logging(
    *,
    debug: bool,
    secrets: Iterable[str] = (),
    log_format: LogFormat = "text",
    simulated: bool = False,
) -> None:
    """Send `privproxy`/`attestation` logs to stderr (INFO, or DEBUG with `--debug`), and
    aiohttp's own (`aiohttp.server`, `aiohttp.client`, ...) at WARNING (DEBUG with `--debug`).

    The one handler carries `log_hygiene.RedactingFilter`: defence in depth that blanks
    `secrets` (the PPQ key, the local token) and key-shaped strings in text we do not control.
    aiohttp's records go through it too (they would otherwise reach Python's last-resort
    handler unfiltered, tracebacks of failed requests included). Before it,
    `RequestIdFilter` stamps each record with the id of the request it is about.
    `log_format` picks plain lines or JSON lines (`privproxy.ops.log_format`).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format, simulated=simulated))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(secrets))
    level = logging.DEBUG if debug else logging.INFO
    levels = {
        "privproxy": level,
        "attestation": level,
        "aiohttp": logging.DEBUG if debug else logging.WARNING,
    }
    for name, name_level in levels.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(name_level)
        logger.propagate = False


__all__ = ["configure_logging"]
