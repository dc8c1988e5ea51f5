"""The Messages answer translation's error (malformed requests raise `TranslationError`)."""

from __future__ import annotations

from typing import ClassVar

from privproxy.errors import ProxyError


class MessagesAnswerError(ProxyError):
    """The model's (authenticated) chat answer has no faithful Messages form, e.g. tool
    arguments that are not a JSON object; refused rather than altered."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "proxy_error"
    code: ClassVar[str] = "untranslatable_answer"


__all__ = ["MessagesAnswerError"]
