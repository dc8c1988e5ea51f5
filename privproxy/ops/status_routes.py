"""Verification and operations endpoints.

* `GET /v1/verification`: what was verified (JSON, `privproxy.ops.verification_view`).
* `GET /readyz`: 200 only while chat can be served (verified and fresh), else 503.
* `GET /healthz`: 200 while the process runs (liveness; says nothing about attestation).
* `/health/liveliness`, `/health/liveness` (= `/healthz`) and `/health/readiness` (= `/readyz`).
* `GET /metrics`: Prometheus text from the app's own registry (`privproxy.ops.metrics`).
* `status_page(request)`: the HTML page `GET /` serves to browsers (`privproxy.ops.status_page`).
* `POST /login`, `POST /logout`: the status page's session with the local token required
  (`login_challenge` is the guards' hook that shows the login form instead of a JSON 401).
* `POST /setup/api-key`: store the PPQ key (`privproxy.server.api_key_store`), as JSON
  `{"apiKey": "sk-..."}` with the local token, or from the page's own form.

Who may reach the three POST routes (same origin only, token or session) is decided by the
guards (`privproxy.server.guards`); these handlers bound and parse the small bodies.

`add_routes` also creates the app's `Metrics` (the guard middleware reports each request
to it through `privproxy.ops.request_metrics`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from aiohttp import hdrs, web

from privproxy.enclave.status import AttestationStatus
from privproxy.gateway.catalog import DEFAULT_MODEL
from privproxy.ops import status_page as page
from privproxy.ops.metrics import METRICS_KEY, Metrics, response_headers
from privproxy.ops.verification_view import iso, unattested_json, verification_json
from privproxy.server.api_key_store import API_KEY_STORE_KEY
from privproxy.server.app_keys import CATALOG_KEY, PROVIDER_KEY, SETTINGS_KEY
from privproxy.server.config import ConfigError
from privproxy.server.guards import (
    GUARD_POLICY_KEY,
    LOGIN_PATH,
    LOGOUT_PATH,
    SETUP_API_KEY_PATH,
    is_form_media_type,
)
from privproxy.server.receive import BodyTooLargeError, ClientTimeoutError, InvalidRequestError

_NO_STORE = {"Cache-Control": "no-store"}
FORM_BODY_LIMIT = 4096
"""Largest body accepted by the page's POST routes (a token or a key and little else)."""

_log = logging.getLogger("privproxy")

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
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_get(LOGIN_PATH, login_again)
    app.router.add_post(LOGOUT_PATH, logout)
    app.router.add_post(SETUP_API_KEY_PATH, setup_api_key)


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
    policy = app.get(GUARD_POLICY_KEY)
    store = app.get(API_KEY_STORE_KEY)
    html = page.render(
        verification_document(app),
        base_url=_base_url(request),
        model=_example_model(app),
        token_required=_token_required(settings),
        session=policy is not None and policy.session_valid(request),
        key_source=store.source if store is not None else "configured",
    )
    return web.Response(text=html, content_type="text/html", headers=page.PAGE_HEADERS)


def login_challenge(request: web.Request) -> web.StreamResponse | None:
    """The guards' hook for `GET /` without the token: the login page for a browser (401,
    so nothing mistakes it for the status), None (the JSON 401) for anything else."""
    if not page.prefers_html(request.headers.get(hdrs.ACCEPT, "")):
        return None
    return _login_page(request, failed=False)


def _login_page(request: web.Request, *, failed: bool) -> web.Response:
    html = page.render_login(simulated=request.app[SETTINGS_KEY].simulated, failed=failed)
    return web.Response(text=html, status=401, content_type="text/html", headers=page.PAGE_HEADERS)


def _see_other(location: str, cookie: str | None = None) -> web.Response:
    headers = {hdrs.LOCATION: location, **_NO_STORE}
    if cookie is not None:
        headers[hdrs.SET_COOKIE] = cookie
    return web.Response(status=303, headers=headers)


async def _small_body(request: web.Request) -> bytes:
    """The body of a page POST: declared, at most `FORM_BODY_LIMIT` bytes, read within the
    client read timeout. 411/413/408 otherwise (a JSON error, as every refusal)."""
    length = request.content_length
    if length is None:
        raise InvalidRequestError("Send the form with a Content-Length", status=411)
    if length > FORM_BODY_LIMIT:
        raise BodyTooLargeError(f"Form body larger than {FORM_BODY_LIMIT} bytes")
    try:
        async with asyncio.timeout(request.app[SETTINGS_KEY].client_read_timeout):
            return await request.read()
    except TimeoutError as exc:
        raise ClientTimeoutError("Timed out reading the request body") from exc


async def _field(request: web.Request, name: str) -> str | None:
    """One field of a urlencoded form or of a JSON object body (None when absent)."""
    raw = await _small_body(request)
    try:
        if is_form_media_type(request.headers.get(hdrs.CONTENT_TYPE, "")):
            values = parse_qs(raw.decode("ascii"), max_num_fields=8).get(name)
            return values[0] if values and len(values) == 1 else None
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidRequestError("Malformed request body") from exc
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


async def login(request: web.Request) -> web.StreamResponse:
    """`POST /login` (the login form, same origin only): a right token gets the session
    cookie and a redirect to the page; a wrong one the form again (401)."""
    policy = request.app.get(GUARD_POLICY_KEY)
    if policy is None or policy.sessions is None:
        return _see_other("/")  # no token required: nothing to sign in to
    token = await _field(request, "token")
    if token is None or not policy.token_equals(token):
        _log.warning("Status page sign-in with a wrong token refused")
        return _login_page(request, failed=True)
    return _see_other("/", policy.sessions.set_cookie(policy.sessions.issue()))


async def login_again(request: web.Request) -> web.StreamResponse:
    """`GET /login` (a reload of the sign-in result, a bookmark) once signed in, or without
    a token: the page itself (signed-out browsers get the form from the guards' hook)."""
    del request
    return _see_other("/")


async def logout(request: web.Request) -> web.StreamResponse:
    """`POST /logout`: ends every status-page session and clears the cookie."""
    policy = request.app.get(GUARD_POLICY_KEY)
    if policy is not None and policy.sessions is not None:
        policy.sessions.revoke_all()
        return _see_other("/", policy.sessions.clear_cookie())
    return _see_other("/")


async def setup_api_key(request: web.Request) -> web.StreamResponse:
    """`POST /setup/api-key`: store the PPQ key for later requests. JSON `{"apiKey": ...}`
    answers JSON; the page's form is redirected back to the page. The key is not echoed."""
    store = request.app[API_KEY_STORE_KEY]
    key = await _field(request, "apiKey")
    if not store.can_store:
        raise InvalidRequestError(
            "The PPQ key comes from PPQ_API_KEY or --api-key-file; change it there", status=409
        )
    if key is None:
        raise InvalidRequestError("Send the key as 'apiKey'")
    try:
        await store.store(key.strip())
    except ValueError as exc:
        raise InvalidRequestError("'apiKey' is not a PPQ API key (sk-...)") from exc
    except ConfigError as exc:
        _log.error("Cannot store the PPQ key: %s", exc.message)
        raise
    _log.info("PPQ API key stored in the state directory")
    if is_form_media_type(request.headers.get(hdrs.CONTENT_TYPE, "")):
        return _see_other("/")
    return web.json_response({"stored": True}, headers=_NO_STORE)


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
    "FORM_BODY_LIMIT",
    "PROBE_ALIASES",
    "add_routes",
    "healthz",
    "login",
    "login_again",
    "login_challenge",
    "logout",
    "metrics_endpoint",
    "readyz",
    "setup_api_key",
    "status_page",
    "verification",
    "verification_document",
]
