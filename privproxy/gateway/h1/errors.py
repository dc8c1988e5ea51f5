"""Errors of the gateway HTTP/1.1 client: one hierarchy, stable codes.

`privproxy.gateway.forward` translates every one of them into the proxy's own errors (502/504);
nothing here ever reaches a local client as is. Messages never contain response bytes.
"""

from __future__ import annotations

from typing import ClassVar


class TransportError(Exception):
    """Root of every failure talking HTTP/1.1 to the gateway."""

    code: ClassVar[str] = "transport_error"


class ConnectError(TransportError):
    """No connection could be opened (DNS, refused, TLS handshake, connect timeout)."""

    code = "connect_failed"


class ConnectTimeoutError(ConnectError):
    """The connection (TCP, TLS handshake) was not established within the connect timeout."""

    code = "connect_timeout"


class ConnectionLostError(TransportError):
    """The connection closed or broke before the answer was complete."""

    code = "connection_lost"


class MalformedResponseError(TransportError):
    """The bytes received are not a well-formed, bounded HTTP/1.1 response."""

    code = "malformed_response"


class PoolClosedError(TransportError):
    """The client was closed (application shutdown)."""

    code = "pool_closed"


__all__ = [
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectionLostError",
    "MalformedResponseError",
    "PoolClosedError",
    "TransportError",
]
