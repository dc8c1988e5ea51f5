"""Response out: status and headers first, then each authenticated plaintext frame at once.

Status and headers are fixed before the first byte (PROTOCOL.md 4.3 step 4): the upstream
status, its `Content-Type` (else `application/json`), `Cache-Control: no-cache` for streams,
no upstream `Content-Length` (frames are re-chunked). A failure after the headers went out
cannot change the status any more, so it is made visible instead of silent (unlike Node,
4.4): an event-stream gets a final `data: {"error": ...}` event; any other body is cut by
closing the connection without the terminating chunk, so the client sees an incomplete body
rather than a short "complete" one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from privproxy import metrics
from privproxy.ehbp import EhbpDecryptError, EhbpError
from privproxy.errors import ProxyError
from privproxy.forward import GatewayTimeoutError, Upstream

_log = logging.getLogger("privproxy.respond")

JSON_TYPE = "application/json"
EVENT_STREAM = "text/event-stream"
# Response headers are not authenticated by EHBP (only the body is), so the gateway could
# set any Content-Type; only types an API client expects are relayed (docs/configuration.md).
_RELAYED_TYPES = frozenset({JSON_TYPE, EVENT_STREAM, "text/plain", "application/problem+json"})


def _content_type(upstream: Upstream) -> str:
    value = upstream.headers.get("Content-Type") or JSON_TYPE
    media = value.partition(";")[0].strip().lower()
    return value if media in _RELAYED_TYPES else JSON_TYPE


def error_response(err: ProxyError) -> web.Response:
    """The OpenAI-shaped JSON error for a failure before headers were sent."""
    resp = web.json_response(err.to_json(), status=err.status, dumps=_dumps)
    extra = getattr(err, "headers", None)
    if callable(extra):
        resp.headers.update(extra())
    return resp


def _dumps(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (a caller's "\ud800" echoed in an error message) cannot be UTF-8
    # encoded; write it as its JSON escape instead of failing the answer with a 500.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def sse_error_event(err: ProxyError) -> bytes:
    """`data: {"error":{...}}` plus a blank line: what an SSE client parses as an error."""
    return b"\n\ndata: " + _dumps(err.to_json()).encode() + b"\n\n"


def _failure_event(err: ProxyError, upstream: Upstream) -> str:
    """Metrics label of a failure after headers (`privproxy.metrics.STREAM_EVENTS`)."""
    if isinstance(err, GatewayTimeoutError):
        return "idle_timeout"
    if isinstance(err, EhbpError) and upstream.at_eof:
        return "truncated"  # the body ended inside a frame (PROTOCOL 3.5)
    if isinstance(err, EhbpDecryptError):
        return "decrypt_error"
    return "upstream_error"


class _BufferedHeadersResponse(web.StreamResponse):
    """A StreamResponse whose headers leave with the first body bytes, not in a send of
    their own (aiohttp does this for `web.Response`; same switch). On loopback every send
    costs a syscall plus the receiver's wake-up, the main per-request cost of the proxy."""

    _send_headers_immediately = False


async def relay(request: web.Request, upstream: Upstream, *, stream: bool) -> web.StreamResponse:
    """Write the decrypted upstream answer to the client; always releases `upstream`.

    Event streams: headers at once, then every plaintext frame as it is authenticated.
    Other bodies: headers wait for the first authenticated frame (a failure before it is
    still a proper JSON error) and each frame is held until the next one (or the end)
    arrives, so a one-frame answer leaves in a single send; after a failure the held frame
    is written and the body cut, as for any failure after headers.
    """
    ctype = _content_type(upstream)
    event_stream = ctype.startswith(EVENT_STREAM)
    resp = (web.StreamResponse if event_stream else _BufferedHeadersResponse)(
        status=upstream.status
    )
    resp.headers["Content-Type"] = ctype
    if stream or event_stream:
        resp.headers["Cache-Control"] = "no-cache"
    completed = False
    app = request.app
    frames = upstream.plaintext()
    pending: bytes | None = None  # non-stream bodies: the last frame, held back for the eof
    try:
        metrics.count_stream_event(app, "started")
        if event_stream:
            await resp.prepare(request)
            async for chunk in frames:
                await resp.write(chunk)
            await resp.write_eof()
        else:
            async for chunk in frames:
                if pending is not None:
                    if not resp.prepared:
                        await resp.prepare(request)
                    await resp.write(pending)
                pending = chunk
            if not resp.prepared:
                await resp.prepare(request)
            last, pending = pending, None
            await resp.write_eof(last or b"")
        completed = True
        metrics.count_stream_event(app, "completed")
    except (ConnectionError, asyncio.CancelledError) as exc:
        # The client went away (cancellation, or a failed write); the upstream is closed below.
        metrics.count_stream_event(app, "client_disconnected")
        if isinstance(exc, asyncio.CancelledError):
            raise
        _log.debug("Client disconnected during the response")
    except ProxyError as err:
        metrics.count_stream_event(app, _failure_event(err, upstream))
        if not resp.prepared and pending is None:
            raise  # nothing to send yet: the error middleware answers with a JSON error
        # Headers are (or, with authenticated bytes held back, now go) out; only the body can
        # still say something (see module docstring).
        _log.warning("Response aborted after headers: %s (%s)", err.code, err.status)
        if event_stream:
            with contextlib.suppress(ConnectionError):
                await resp.write(sse_error_event(err))
                await resp.write_eof()
        else:
            with contextlib.suppress(ConnectionError):
                if pending is not None:
                    if not resp.prepared:
                        await resp.prepare(request)
                    await resp.write(pending)  # what was authenticated, then the cut
            if request.transport is not None:
                request.transport.close()
    finally:
        await frames.aclose()
        if completed:
            upstream.release()
        else:
            upstream.close()
    return resp


__all__ = ["error_response", "relay", "sse_error_event"]
