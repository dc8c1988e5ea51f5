"""Log redaction: defence in depth behind the rule that secrets and content are never logged.

The primary guarantee is that no code path logs prompts, completions, keys, tokens or
ciphertext (the tests capture DEBUG logs and search them). This module is the second line, for
text we do not control (library messages, exception strings, tracebacks): a `logging.Filter`
installed on the handlers rewrites each record's final message and traceback, replacing

* the configured secrets (the PPQ key, the local token) wherever they appear;
* anything shaped like a PPQ/OpenAI key (`sk-...`);
* the credential after `Bearer ` (any Authorization value), except the placeholders our own
  hints show (`Bearer sk-...`, `Bearer <token>`, `Bearer $PRIVPROXY_TOKEN`): no credential
  has those shapes, and a hint redacted to `Bearer [REDACTED]` tells a reader nothing.

Prompts and completions cannot be recognised by shape, so they are not redacted here; they are
kept out of logs by construction (handlers log metadata only, see docs/security.md).

`MetadataAccessLogger` replaces aiohttp's access log line (which prints the full request line,
query string included, plus Referer and User-Agent) by method, path, status, size and time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LENGTH: Final = 8
"""Configured secrets shorter than this are not substituted (they would match ordinary text)."""

# A placeholder, not a credential: `sk-...`/`sk-…` or `...`, `<name>`, `$NAME`/`${NAME}`,
# each followed by the end of the value.
_PLACEHOLDER = (
    r"(?:(?:sk-)?(?:\.\.\.|…)|<[A-Za-z][A-Za-z _-]{0,39}>|(?-i:\$\{?[A-Z][A-Z0-9_]{0,63}\}?))"
)
_PATTERNS: Final = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(rf"(?i)(?<=bearer )(?!{_PLACEHOLDER}(?:[\s\"',;)]|$))[^\s\"',;]+"),
)


class RedactingFilter(logging.Filter):
    """Rewrite records so that known secrets and credential-shaped strings never get emitted.

    Install it on handlers (`install`), not loggers: logger filters do not see records that
    propagate from child loggers, handler filters see everything the handler writes.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(
            sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        )

    def __repr__(self) -> str:
        return f"RedactingFilter(<{len(self._secrets)} secrets>)"

    def redact(self, text: str) -> str:
        """`text` with every secret and credential-shaped substring replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep only the template
            message = str(record.msg)
        clean = self.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install(secrets: Iterable[str], logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one `RedactingFilter` to every handler of `logger` (default: the root logger).

    Call after the handlers are configured. Returns the filter (for removal in tests).
    """
    target = logger if logger is not None else logging.getLogger()
    redactor = RedactingFilter(secrets)
    for handler in target.handlers:
        handler.addFilter(redactor)
    return redactor


class MetadataAccessLogger(AbstractAccessLogger):
    """Access log of metadata only: `POST /v1/chat/completions 200 1234B 5.2ms`.

    No query string (callers could put anything there), no headers (Authorization, cookies,
    Referer and User-Agent stay out), no client address beyond what the bind implies.
    Use as `web.AppRunner(..., access_log_class=MetadataAccessLogger)`.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        path = request.path
        if len(path) > 200:
            path = path[:200] + "..."
        self.logger.info(
            "%s %s %d %dB %.1fms",
            request.method,
            path,
            response.status,
            response.body_length,
            time * 1000,
        )


__all__ = ["REDACTED", "MetadataAccessLogger", "RedactingFilter", "install"]
