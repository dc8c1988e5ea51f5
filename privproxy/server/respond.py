"""Response out: status and headers once the first frame is authenticated, then plaintext.

Status and headers are fixed before the first byte (docs/protocol.md §4.3 step 4), and only after
the first authenticated frame: the upstream status, its `Content-Type` (else
`application/json`), `Cache-Control: no-cache` for streams, no upstream `Content-Length`
(frames are re-chunked; a non-stream answer read whole gets its own). A failure after the
headers went out cannot change the status any more, so it is made visible instead of silent
(unlike Node, 4.4): an event-stream drops its incomplete trailing event and ends with a
`data: {"error": ...}` event; any other body is cut by closing the connection without the
terminating chunk, so the client sees an incomplete body rather than a short "complete" one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from privproxy.ehbp import EhbpDecryptError, EhbpError
from privproxy.errors import ProxyError
from privproxy.gateway.forward import GatewayTimeoutError, Upstream
from privproxy.ops import metrics
from privproxy.server import guards
from privproxy.server.drain import DRAIN_KEY

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


def error_response(err: ProxyError, *, anthropic: bool = False) -> web.Response:
    """The JSON error for a failure before headers were sent: OpenAI's shape, or
    Anthropic's for the Messages routes (`anthropic`)."""
    body = err.to_anthropic_json() if anthropic else err.to_json()
    resp = web.json_response(body, status=err.status, dumps=_dumps)
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
    """Metrics label of a failure after headers (`privproxy.ops.metrics.STREAM_EVENTS`)."""
    if isinstance(err, GatewayTimeoutError):
        return "idle_timeout"
    if isinstance(err, EhbpError) and upstream.at_eof:
        return "truncated"  # the body ended inside a frame (docs/protocol.md §3.5)
    if isinstance(err, EhbpDecryptError):
        return "decrypt_error"
    return "upstream_error"


class BufferedHeadersResponse(web.StreamResponse):
    """A StreamResponse whose headers leave with the first body bytes, not in a send of
    their own (aiohttp does this for `web.Response`; same switch). On loopback every send
    costs a syscall plus the receiver's wake-up, the main per-request cost of the proxy."""

    _send_headers_immediately = False


HELD_EVENT_CAP = 1024 * 1024
"""Bytes of an incomplete SSE event held back at most; beyond it they are released as they
are (an event that large is not worth buffering, and memory stays bounded per stream)."""


def sse_cut(data: bytes) -> int:
    """Length of the prefix of `data` that ends at the last SSE event boundary (a blank
    line: `\n\n` or `\r\n\r\n`); 0 when `data` holds no complete event."""
    if data.endswith(b"\n\n"):
        return len(data)  # the common case: one read, whole events
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


async def relay(request: web.Request, upstream: Upstream, *, stream: bool) -> web.StreamResponse:
    """Write the decrypted upstream answer to the client; always releases `upstream`.

    Status and headers are decided only once the first frame is authenticated (or the body
    ended empty): a failure before it is a proper JSON error (502/504), never a 200.
    Event streams: plaintext is released up to the last complete event; an incomplete
    trailing event is held until it completes, so a failure drops it and the stream ends
    with the SSE error event instead of half a JSON line. Other bodies: an answer read whole
    at once leaves as one `web.Response` with `Content-Length`; a longer one is chunked,
    each piece held until the next one (or the end) arrives, and after a failure the held
    piece is written and the body cut (see module docstring).
    """
    ctype = _content_type(upstream)
    event_stream = ctype.startswith(EVENT_STREAM)
    app = request.app
    metrics.count_stream_event(app, "started")
    drain = app.get(DRAIN_KEY)  # lets shutdown cut this answer (privproxy.server.drain)
    if drain is not None:
        drain.answers.add(upstream)
    completed = False
    resp: web.StreamResponse | None = None
    pending: bytes | None = None  # non-stream bodies: the last piece, held back for the eof
    held = b""  # event streams: an incomplete trailing event
    try:
        first = await upstream.read()
        if event_stream:
            cut = sse_cut(first) if first else 0
            # Headers leave with the first complete event, or at once when there is none yet.
            resp = (BufferedHeadersResponse if cut else web.StreamResponse)(status=upstream.status)
            _set_headers(request, resp, ctype, no_cache=True)
            await resp.prepare(request)
            data = first
            while data is not None:
                if held:
                    data = held + data
                cut = sse_cut(data)
                if cut == len(data):
                    held = b""
                    if data:
                        await resp.write(data)
                else:
                    held = data[cut:]
                    if len(held) > HELD_EVENT_CAP:
                        cut, held = len(data), b""
                    if cut:
                        await resp.write(data[:cut] if held else data)
                data = await upstream.read()
            tail, held = held, b""
            await resp.write_eof(tail)
        elif upstream.complete:
            # The whole answer arrived in one read: one response, one send.
            resp = web.Response(status=upstream.status, body=first or b"")
            _set_headers(request, resp, ctype, no_cache=stream)
        else:
            resp = BufferedHeadersResponse(status=upstream.status)
            _set_headers(request, resp, ctype, no_cache=stream)
            pending = first
            while (piece := await upstream.read()) is not None:
                if pending is not None:
                    if not resp.prepared:
                        await resp.prepare(request)
                    await resp.write(pending)
                pending = piece
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
        if resp is None or (not resp.prepared and pending is None):
            raise  # nothing sent yet: the error middleware answers with a JSON error
        # Headers are (or, with authenticated bytes held back, now go) out; only the body can
        # still say something (see module docstring).
        _log.warning("Response aborted after headers: %s (%s)", err.code, err.status)
        if event_stream:
            with contextlib.suppress(ConnectionError):
                # The incomplete event in `held` is dropped: the client sees whole events,
                # then the error event.
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
        if drain is not None:
            drain.answers.discard(upstream)
        if completed:
            upstream.release()
        else:
            upstream.close()
    assert resp is not None
    return resp


def _set_headers(
    request: web.Request, resp: web.StreamResponse, ctype: str, *, no_cache: bool
) -> None:
    headers = resp.headers
    headers["Content-Type"] = ctype
    if no_cache:
        headers["Cache-Control"] = "no-cache"
    # CORS for allowed cross origins: the guard middleware adds them only to answers that
    # are not prepared yet, and relay prepares its own.
    guards.add_cors_headers(request, resp)


__all__ = ["HELD_EVENT_CAP", "error_response", "relay", "sse_cut", "sse_error_event"]
