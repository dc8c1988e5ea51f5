"""Thin route handlers for the Node-compatible local API (docs/protocol.md §4.2, 4.3).

`chat_completions` reads as the data flow: receive → current enclave target → EHBP seal →
forward → relay. Errors raised before the response starts are `ProxyError`s, shaped by
`map_error` (inside the guard middleware); errors after it are handled by `respond.relay`.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from privproxy.api.sealed_chat import forward_with_rotation
from privproxy.errors import ProxyError, anthropic_error, wants_anthropic_errors
from privproxy.ops import status_routes
from privproxy.ops.status_page import prefers_html
from privproxy.server.api_key_store import API_KEY_STORE_KEY
from privproxy.server.app_keys import CATALOG_KEY, PROVIDER_KEY, SETTINGS_KEY
from privproxy.server.receive import receive
from privproxy.server.respond import error_response, relay

_log = logging.getLogger("privproxy")
_debug = _log.isEnabledFor


def _compact(obj: object) -> str:
    # Node answered with JSON.stringify's compact form (docs/protocol.md §4.2).
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


async def health(request: web.Request) -> web.StreamResponse:
    """`GET /health` (and JSON `GET /`): `{"status":"ok","attestation":...}` + provider fields."""
    provider_fields = request.app[PROVIDER_KEY].health()
    settings = request.app[SETTINGS_KEY]
    body: dict[str, object] = {
        "status": "ok",
        "attestation": bool(provider_fields.get("attestation", False)),
    }
    body.update(provider_fields)
    store = request.app.get(API_KEY_STORE_KEY)
    body["apiKeyConfigured"] = settings.api_key is not None or (
        store is not None and store.current is not None
    )
    if settings.simulated:
        body["simulated"] = True
    return web.json_response(body, dumps=_compact)


async def root(request: web.Request) -> web.StreamResponse:
    """`GET /`: the HTML status page for browsers (when available), else the health JSON."""
    page = getattr(status_routes, "status_page", None)
    if page is not None and prefers_html(request.headers.get("Accept", "")):
        result: web.StreamResponse = await page(request)
        return result
    return await health(request)


async def models(request: web.Request) -> web.StreamResponse:
    """`GET /v1/models` in the Node shape, from the (cached) gateway catalog."""
    view = request.app[CATALOG_KEY].view()
    data = [{"id": i, "object": "model", "created": 0, "owned_by": "ppq-private"} for i in view.ids]
    return web.json_response({"object": "list", "data": data}, dumps=_compact)


async def options(request: web.Request) -> web.StreamResponse:
    """`OPTIONS` on any path: 204, empty (CORS policy lives in `privproxy.server.guards`)."""
    return web.Response(status=204)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """`POST /v1/chat/completions`: seal, forward, relay (docs/protocol.md §1.3, 4.3)."""
    app = request.app
    settings = app[SETTINGS_KEY]
    started = time.monotonic()
    inbound = await receive(request, settings, app[CATALOG_KEY].view())
    if _debug(logging.DEBUG):
        _log.debug(
            "→ %s, stream: %s, %d bytes",
            inbound.private_model,
            str(inbound.stream).lower(),
            len(inbound.payload),
        )
    upstream = await forward_with_rotation(app, inbound)
    if _debug(logging.DEBUG):
        _log.debug(
            "← %s status %d after %.0f ms",
            inbound.private_model,
            upstream.status,
            (time.monotonic() - started) * 1000,
        )
    return await relay(request, upstream, stream=inbound.stream)


def unknown_endpoint(request: web.Request) -> web.Response:
    """Node's JSON 404 for every unrouted method/path (query string ignored)."""
    path = request.raw_path.split("?", 1)[0]
    if len(path) > 200:
        path = path[:200] + "…"
    message = f"Unknown endpoint: {request.method} {path}"
    if wants_anthropic_errors(path):
        return web.json_response(anthropic_error(404, message), status=404, dumps=_compact)
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error"}}, status=404, dumps=_compact
    )


def map_error(request: web.Request, exc: Exception) -> web.StreamResponse | None:
    """The answer for an exception a handler raised (the guard middleware's `errors` hook):
    `ProxyError` → OpenAI JSON error; unrouted requests → Node's JSON 404; anything else is
    not ours (None: aiohttp answers 500 without details). No bodies touched."""
    if isinstance(exc, ProxyError):
        if exc.status >= 500 or exc.status in (401, 402, 429):
            _log.warning("Request error: %s (%d)", exc.code, exc.status)
        return error_response(exc, anthropic=wants_anthropic_errors(request.path))
    if isinstance(exc, web.HTTPNotFound | web.HTTPMethodNotAllowed):
        return unknown_endpoint(request)
    return None


def add_routes(app: web.Application) -> None:
    """Register the local API routes (status routes are added after these by `app.py`)."""
    app.router.add_get("/health", health)
    app.router.add_get("/", root)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_route("OPTIONS", "/{tail:.*}", options)


__all__ = [
    "add_routes",
    "chat_completions",
    "health",
    "map_error",
    "models",
    "prefers_html",
    "unknown_endpoint",
]
