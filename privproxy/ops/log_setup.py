"""Logging configuration for the CLI: plain lines on stderr, `[debug]` prefix like Node.

Library code only calls `logging.getLogger("privproxy…")`; this module is the one place
that installs handlers, and only the CLI calls it. Nothing anywhere logs prompts,
completions, keys, tokens or ciphertext; DEBUG carries metadata only (model, sizes, status,
timings).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from privproxy.ops.log_hygiene import RedactingFilter


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno <= logging.DEBUG:
            return f"[debug] {text}"
        if record.levelno >= logging.WARNING:
            return f"{record.levelname}: {text}"
        return text


def configure_logging(*, debug: bool, secrets: Iterable[str] = ()) -> None:
    """Send `privproxy`/`attestation` logs to stderr (INFO, or DEBUG with `--debug`), and
    aiohttp's own (`aiohttp.server`, `aiohttp.client`, ...) at WARNING (DEBUG with `--debug`).

    The one handler carries `log_hygiene.RedactingFilter`: defence in depth that blanks
    `secrets` (the PPQ key, the local token) and key-shaped strings in text we do not control.
    aiohttp's records go through it too (they would otherwise reach Python's last-resort
    handler unfiltered, tracebacks of failed requests included).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
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
