"""A small, strict HTTP/1.1 client for the one hop that matters: proxy → PPQ gateway.

`Pool` keeps keep-alive connections to the gateway's origin and does one exchange per call;
`Response.content` yields the body as it arrives, with backpressure. Parsing is sans-I/O
(`privproxy.gateway.h1.parse`) and rejects every ambiguous or oversized response. Errors form one
hierarchy (`TransportError`); `privproxy.gateway.forward` is the only user and translates them.
See `privproxy.gateway.h1.pool` for why this exists instead of aiohttp's client on this hop.
"""

from privproxy.gateway.h1.body import Body
from privproxy.gateway.h1.errors import (
    ConnectError,
    ConnectionLostError,
    ConnectTimeoutError,
    MalformedResponseError,
    PoolClosedError,
    TransportError,
)
from privproxy.gateway.h1.parse import Headers, ResponseHead
from privproxy.gateway.h1.pool import Pool, Response

__all__ = [
    "Body",
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectionLostError",
    "Headers",
    "MalformedResponseError",
    "Pool",
    "PoolClosedError",
    "Response",
    "ResponseHead",
    "TransportError",
]
