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

import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from privproxy.errors import ProxyError
from privproxy.forward import Upstream

_log = logging.getLogger("privproxy.respond")

JSON_TYPE = "application/json"
EVENT_STREAM = "text/event-stream"


def error_response(err: ProxyError) -> web.Response:
    """The OpenAI-shaped JSON error for a failure before headers were sent."""
    resp = web.json_response(err.to_json(), status=err.status, dumps=_dumps)
    extra = getattr(err, "headers", None)
    if callable(extra):
        resp.headers.update(extra())
    return resp


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse_error_event(err: ProxyError) -> bytes:
    """`data: {"error":{...}}` plus a blank line: what an SSE client parses as an error."""
    return b"\n\ndata: " + _dumps(err.to_json()).encode() + b"\n\n"


async def relay(request: web.Request, upstream: Upstream, *, stream: bool) -> web.StreamResponse:
    """Write the decrypted upstream answer to the client; always releases `upstream`."""
    ctype = upstream.headers.get("Content-Type") or JSON_TYPE
    resp = web.StreamResponse(status=upstream.status)
    resp.headers["Content-Type"] = ctype
    event_stream = ctype.startswith(EVENT_STREAM)
    if stream or event_stream:
        resp.headers["Cache-Control"] = "no-cache"
    completed = False
    try:
        await resp.prepare(request)
        frames = upstream.plaintext()
        try:
            async for chunk in frames:
                await resp.write(chunk)
        finally:
            await frames.aclose()
        completed = True
    except ConnectionError:
        # The client went away; aiohttp's own write_eof will notice too. Nothing to tell.
        _log.debug("Client disconnected during the response")
        return resp
    except ProxyError as err:
        # Headers are out; only the body can still say something (see module docstring).
        _log.warning("Response aborted after headers: %s (%s)", err.code, err.status)
        if event_stream:
            with contextlib.suppress(ConnectionError):
                await resp.write(sse_error_event(err))
                await resp.write_eof()
        elif request.transport is not None:
            request.transport.close()
        return resp
    finally:
        if completed:
            upstream.release()
        else:
            upstream.close()
    await resp.write_eof()
    return resp


__all__ = ["error_response", "relay", "sse_error_event"]
