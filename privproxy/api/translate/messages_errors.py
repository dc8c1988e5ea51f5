"""Errors of the Messages translation; each is a `ProxyError` with its HTTP status."""

from __future__ import annotations

from typing import ClassVar

from privproxy.errors import ProxyError


class MessagesRequestError(ProxyError):
    """The Messages request cannot be translated; `field` names the offending member."""

    http_status: ClassVar[int] = 400
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "invalid_request_error"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class MessagesAnswerError(ProxyError):
    """The model's (authenticated) chat answer has no faithful Messages form, e.g. tool
    arguments that are not a JSON object; refused rather than altered."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "proxy_error"
    code: ClassVar[str] = "untranslatable_answer"


__all__ = ["MessagesAnswerError", "MessagesRequestError"]
