"""EHBP errors: every one maps to 502 because the fault lies upstream of the proxy."""

from __future__ import annotations

from typing import ClassVar

from privproxy.errors import ProxyError


class EhbpError(ProxyError):
    """Root of every EHBP failure (framing, nonce, size, authentication)."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "ehbp_protocol_error"
    code: ClassVar[str] = "ehbp_protocol_error"


class EhbpProtocolError(EhbpError):
    """Wire-format violation: missing/malformed nonce, oversize or truncated frame, unusable key."""


class EhbpDecryptError(EhbpError):
    """A response frame failed AES-GCM authentication. The message is deliberately opaque."""

    MESSAGE: ClassVar[str] = "EHBP response frame failed authentication"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


__all__ = ["EhbpDecryptError", "EhbpError", "EhbpProtocolError"]
