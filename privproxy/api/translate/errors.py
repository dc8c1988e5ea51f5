"""The translators' errors: a request that cannot be translated (400, names the field), an
answer that cannot be expressed (502)."""

from __future__ import annotations

from typing import Any, ClassVar

from privproxy.errors import ProxyError


class TranslationError(ProxyError):
    """A malformed or unsupported field of a client request; `param` names it."""

    http_status: ClassVar[int] = 400
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "invalid_request_error"

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param

    def to_json(self) -> dict[str, Any]:
        """OpenAI error shape, with `param` naming the offending field."""
        body = super().to_json()
        body["error"]["param"] = self.param or None
        return body


class UnexpectedAnswerError(ProxyError):
    """The model's (authenticated) chat answer cannot be expressed in the client's API."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "upstream_error"
    code: ClassVar[str] = "unexpected_answer"


__all__ = ["TranslationError", "UnexpectedAnswerError"]
