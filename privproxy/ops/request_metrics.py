"""Request counting and latency, reported by the guard middleware when a request ends.

The guard middleware (`privproxy.server.guards`) calls `observe` for every request, refusals
included, so this needs no middleware layer of its own (each layer costs every request and
every wake-up of a streamed answer). The route label is the matched route's template
(`/v1/chat/completions`), `unmatched` for paths no route knows: never the raw path, which a
caller controls. For streams the duration runs until the handler returns, i.e. until the
last byte was written; a client that went away is status 499.
"""

from __future__ import annotations

from aiohttp import web

from privproxy.ops.metrics import METRICS_KEY, Metrics


def route_label(request: web.Request) -> str:
    """Template of the matched route, or `unmatched`."""
    match_info = request.match_info
    resource = match_info.route.resource
    if resource is None or getattr(match_info, "http_exception", None) is not None:
        return "unmatched"
    return resource.canonical


def observe(request: web.Request, status: int, seconds: float) -> None:
    """Count one finished request by route/method/status and observe its duration."""
    metrics = request.app.get(METRICS_KEY)
    if isinstance(metrics, Metrics):
        metrics.observe_request(route_label(request), request.method, status, seconds)


__all__ = ["observe", "route_label"]
