"""Log line formats: `text` (the Node proxy's plain lines) and `json` (one object per line).

Both show the request id of the request a line is about (`privproxy.ops.request_id`). The
JSON fields are listed in docs/operations.md; each line has `time`, `level`, `logger`,
`message` and `request_id` (null outside requests), plus, when the line carries them,
the metadata fields of `FIELDS` (route, status, model, sizes, timings). Content, keys and
tokens are never among them; the redacting filter runs before either formatter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any, Final, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: Final = ("text", "json")

FIELDS: Final = (
    "method",
    "route",
    "status",
    "model",
    "stream",
    "request_bytes",
    "response_bytes",
    "duration_ms",
    "upstream_first_byte_ms",
)
"""Metadata a record may carry (`extra=`), copied into the JSON line when present."""


class TextFormatter(logging.Formatter):
    """Plain lines: `[debug]` / `WARNING:` prefixes like the Node proxy, then `[<request id>]`
    for lines about a request."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        if rid is not None:
            text = f"[{rid}] {text}"
        if record.levelno <= logging.DEBUG:
            return f"[debug] {text}"
        if record.levelno >= logging.WARNING:
            return f"{record.levelname}: {text}"
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside strings are escaped)."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        line.update(self._static)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_for(log_format: LogFormat, *, simulated: bool = False) -> logging.Formatter:
    """The formatter for `log_format` (`simulated` adds `"simulated": true` to JSON lines)."""
    if log_format == "json":
        return JsonFormatter({"simulated": True} if simulated else None)
    return TextFormatter()


__all__ = ["FIELDS", "LOG_FORMATS", "JsonFormatter", "LogFormat", "TextFormatter", "formatter_for"]
