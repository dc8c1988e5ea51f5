"""Request counting and latency middleware (outermost, so guard refusals are counted too).

The route label is the matched route's template (`/v1/chat/completions`), `unmatched` for
paths no route knows: never the raw path, which a caller controls. For streams the
duration runs until the handler returns, i.e. until the last byte was written.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from privproxy.errors import ProxyError
from privproxy.metrics import METRICS_KEY, Metrics


def route_label(request: web.Request) -> str:
    """Template of the matched route, or `unmatched`."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or getattr(request.match_info, "http_exception", None) is not None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each request by route/method/status and observe its duration."""
    metrics = request.app.get(METRICS_KEY)
    if not isinstance(metrics, Metrics):
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except ProxyError as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the local client went away (nginx's convention)
        raise
    finally:
        metrics.observe_request(
            route_label(request), request.method, status, time.perf_counter() - started
        )


def install(app: web.Application) -> None:
    """Put the middleware in front of every other one (call before the app starts)."""
    if metrics_middleware not in app.middlewares:
        app.middlewares.insert(0, metrics_middleware)


__all__ = ["install", "metrics_middleware", "route_label"]
