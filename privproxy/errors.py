"""One exception hierarchy for the proxy; each error knows its HTTP status and OpenAI shape.

Errors raised before the response headers are sent become an OpenAI-style JSON error
`{"error": {"message", "type", "code"}}` with `http_status`; after headers they become an
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


class AttestationUnavailableError(ProxyError):
    """No verified enclave key right now; the message names the failing step."""

    http_status = 503
    error_type = "attestation_unavailable"
    code = "attestation_unavailable"


__all__ = ["AttestationUnavailableError", "ProxyError"]
