"""Verification and operations endpoints (issue #5).

* `GET /v1/verification`: what was verified (JSON, `privproxy.ops.verification_view`).
* `GET /readyz`: 200 only while chat can be served (verified and fresh), else 503.
* `GET /healthz`: 200 while the process runs (liveness; says nothing about attestation).
* `/health/liveliness`, `/health/liveness` (= `/healthz`) and `/health/readiness` (= `/readyz`).
* `GET /metrics`: Prometheus text from the app's own registry (`privproxy.ops.metrics`).
* `status_page(request)`: the HTML page `GET /` serves to browsers (`privproxy.ops.status_page`).

`add_routes` also creates the app's `Metrics` (the guard middleware reports each request
to it through `privproxy.ops.request_metrics`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from privproxy.enclave.status import AttestationStatus
from privproxy.gateway.catalog import DEFAULT_MODEL
from privproxy.ops import status_page as page
from privproxy.ops.metrics import METRICS_KEY, Metrics, response_headers
from privproxy.ops.verification_view import iso, unattested_json, verification_json
from privproxy.server.app_keys import CATALOG_KEY, PROVIDER_KEY, SETTINGS_KEY

_NO_STORE = {"Cache-Control": "no-store"}

PROBE_ALIASES: dict[str, tuple[str, ...]] = {
    "/healthz": ("/health/liveliness", "/health/liveness"),
    "/readyz": ("/health/readiness",),
}
"""Other names for the probes (answered like the probe they alias, token-exempt too)."""


def add_routes(app: web.Application) -> None:
    """Register the status routes and the app's `Metrics` on `app` (before startup)."""
    metrics = Metrics()
    app[METRICS_KEY] = metrics
    if PROVIDER_KEY in app:
        metrics.watch_provider(app[PROVIDER_KEY])
    app.router.add_get("/v1/verification", verification)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/healthz", healthz)
    # The probe paths gateway users' tooling already calls (LiteLLM's names), same answers.
    for path in PROBE_ALIASES["/healthz"]:
        app.router.add_get(path, healthz)
    for path in PROBE_ALIASES["/readyz"]:
        app.router.add_get(path, readyz)
    app.router.add_get("/metrics", metrics_endpoint)


def verification_document(app: web.Application) -> dict[str, Any]:
    """The `/v1/verification` JSON for the app's provider (any `EnclaveProvider`)."""
    provider = app[PROVIDER_KEY]
    settings = app[SETTINGS_KEY]
    status = _status(provider)
    if status is None:
        doc = unattested_json(provider.health(), settings)
    else:
        doc = verification_json(status, settings)
    # What the proxy lets the enclave's router do with a prompt (privproxy.server.router_options).
    doc["allowed_router_options"] = list(settings.allowed_router_options)
    return doc


async def verification(request: web.Request) -> web.StreamResponse:
    """`GET /v1/verification`."""
    return web.json_response(verification_document(request.app), headers=_NO_STORE)


async def readyz(request: web.Request) -> web.StreamResponse:
    """`GET /readyz`: 200 only when chat is served now to a verified, fresh key.

    The unsafe static key (`--unsafe-hpke-key`, tests and benchmarks) is never "ready": nothing
    was verified, and an orchestrator must not route real traffic to it.
    """
    provider = request.app[PROVIDER_KEY]
    status = _status(provider)
    if status is None:
        health = provider.health()
        ready = bool(health.get("attestation")) and not health.get("unsafe")
        body: dict[str, Any] = {"ready": ready, "state": "unsafe" if health.get("unsafe") else None}
        if health.get("unsafe"):
            body["reason"] = "attestation disabled (--unsafe-hpke-key)"
    else:
        ready = status.serving
        body = {"ready": ready, "state": status.state.value}
        v = status.verification
        if v is not None:  # which format proved the key, and (v3) when it stops counting
            body["attestation_format"] = v.attestation_format
            body["freshness_expires_at"] = iso(v.freshness_expires_at)
        if not ready:
            reason = getattr(provider, "unavailable_reason", None)
            body["reason"] = reason() if callable(reason) else None
    return web.json_response(body, status=200 if ready else 503, headers=_NO_STORE)


async def healthz(request: web.Request) -> web.StreamResponse:
    """`GET /healthz`: liveness only."""
    del request
    return web.json_response({"status": "alive"}, headers=_NO_STORE)


async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
    """`GET /metrics` (Prometheus text exposition)."""
    metrics = request.app[METRICS_KEY]
    return web.Response(body=metrics.render(), headers=response_headers())


async def status_page(request: web.Request) -> web.StreamResponse:
    """The HTML status page (called by `GET /` when the client prefers `text/html`)."""
    app = request.app
    settings = app[SETTINGS_KEY]
    html = page.render(
        verification_document(app),
        base_url=_base_url(request),
        model=_example_model(app),
        token_required=_token_required(settings),
    )
    return web.Response(text=html, content_type="text/html", headers=page.PAGE_HEADERS)


def _status(provider: object) -> AttestationStatus | None:
    fn = getattr(provider, "status", None)
    status = fn() if callable(fn) else None
    return status if isinstance(status, AttestationStatus) else None


def _base_url(request: web.Request) -> str:
    # The Host header already passed the Host guard (privproxy.server.guards); it is escaped anyway.
    return f"{request.scheme}://{request.host}"


def _example_model(app: web.Application) -> str:
    catalog = app.get(CATALOG_KEY)
    if catalog is not None:
        ids = catalog.view().ids
        if ids:
            return str(ids[0])
    return DEFAULT_MODEL


def _token_required(settings: Any) -> bool:
    from privproxy.server.config import ConfigError
    from privproxy.server.token import token_required

    try:
        return token_required(settings)
    except ConfigError:
        return True


__all__ = [
    "PROBE_ALIASES",
    "add_routes",
    "healthz",
    "metrics_endpoint",
    "readyz",
    "status_page",
    "verification",
    "verification_document",
]
