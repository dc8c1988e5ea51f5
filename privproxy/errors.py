"""One exception hierarchy for the proxy; each error knows its HTTP status and OpenAI shape.

Errors raised before the response headers are sent become an OpenAI-style JSON error
`{"error": {"message", "type", "code"}}` with `http_status` (Anthropic's
`{"type":"error","error":{"type","message"}}` on the Messages routes); after headers they become an
SSE error event (see `respond.py`). `type` keeps the Node proxy's values where the Node
proxy had one (`invalid_request_error`, `authentication_error`, `proxy_error`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from privproxy.ops.request_id import REQUEST_ID


class ProxyError(Exception):
    """Root of every error the proxy turns into an HTTP answer."""

    http_status: ClassVar[int] = 500
    error_type: ClassVar[str] = "proxy_error"
    code: ClassVar[str] = "proxy_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.http_status

    def to_json(self) -> dict[str, Any]:
        """OpenAI error shape (compatible with the Node proxy's `{"error":{message,type}}`)."""
        error = {"message": self.message, "type": self.error_type, "code": self.code}
        rid = REQUEST_ID.get()
        if rid is not None:  # the request being answered (privproxy.ops.request_id)
            error["request_id"] = rid
        return {"error": error}

    def to_anthropic_json(self) -> dict[str, Any]:
        """Anthropic error shape, for the Messages routes: the type follows the status."""
        return anthropic_error(self.status, self.message)


# Anthropic's error types by HTTP status; other 4xx are invalid requests, other 5xx api errors.
_ANTHROPIC_TYPES: dict[int, str] = {
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


ANTHROPIC_ROUTE: str = "/v1/messages"
"""The Anthropic Messages routes (this path and below) answer errors in Anthropic's shape."""


def wants_anthropic_errors(path: str) -> bool:
    """True for the Messages routes, whose clients parse Anthropic's error shape."""
    return path.startswith(ANTHROPIC_ROUTE) and (
        len(path) == len(ANTHROPIC_ROUTE) or path[len(ANTHROPIC_ROUTE)] == "/"
    )


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """`{"type":"error","error":{"type":...,"message":...}}` for an HTTP status."""
    kind = _ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    rid = REQUEST_ID.get()
    if rid is not None:  # top level, where Anthropic's own answers carry theirs
        body["request_id"] = rid
    return body


class AttestationUnavailableError(ProxyError):
    """No verified enclave key right now; the message names the failing step."""

    http_status = 503
    error_type = "attestation_unavailable"
    code = "attestation_unavailable"


__all__ = [
    "ANTHROPIC_ROUTE",
    "AttestationUnavailableError",
    "ProxyError",
    "anthropic_error",
    "wants_anthropic_errors",
]
