"""Application factory: routes, middleware and lifetimes.

`create_app(settings, provider=...)` returns a ready `web.Application` with ONE middleware:
the guards of `privproxy.server.guards` (Host/Origin/token/content type/load), which also map
handler errors to answers (`handlers.map_error`) and report every request to the metrics
(`privproxy.ops.request_metrics`): one layer instead of three, because every layer costs each
request and each wake-up of a streamed answer. Lifetimes live in `cleanup_ctx`: the gateway
connection pool, the enclave provider (started without blocking startup: the server listens
at once and answers 503 until the enclave is verified) and the model catalog's background
refresh.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from privproxy.api import messages, responses
from privproxy.api.chat import add_routes, map_error
from privproxy.enclave.provider import EnclaveProvider
from privproxy.gateway.catalog import Catalog
from privproxy.gateway.forward import create_pool, fetch_catalog
from privproxy.ops import request_metrics, status_routes
from privproxy.server import guards
from privproxy.server.api_key_store import API_KEY_STORE_KEY, ApiKeyStore
from privproxy.server.app_keys import CATALOG_KEY, POOL_KEY, PROVIDER_KEY, SETTINGS_KEY
from privproxy.server.config import Settings
from privproxy.server.drain import DRAIN_KEY, Drain

_log = logging.getLogger("privproxy")


def default_provider(settings: Settings) -> EnclaveProvider:
    """The unsafe static key when configured, else the attesting provider (lazy import)."""
    if settings.unsafe_hpke_key is not None:
        from privproxy.enclave.unsafe import UnsafeStaticProvider

        return UnsafeStaticProvider.from_settings(settings)
    from privproxy.enclave.attested import AttestedProvider

    provider: EnclaveProvider = AttestedProvider(settings)
    return provider


def create_app(settings: Settings, *, provider: EnclaveProvider | None = None) -> web.Application:
    """Build the proxy application. `provider` overrides the enclave source (tests, demo)."""
    # Guards (Host/Origin/token/content type/load) sit outside everything else; their
    # `server_options` bound what aiohttp itself reads (body size, header limits).
    # Streamed answers get their CORS headers from `respond.relay` (no prepare signal).
    policy = guards.GuardPolicy.from_settings(settings)
    drain = Drain()  # requests in flight, for a timely shutdown (privproxy.server.runner)
    app = web.Application(
        middlewares=guards.build_middlewares(
            settings,
            errors=map_error,
            observe=request_metrics.observe,
            drain=drain,
            policy=policy,
            challenge=status_routes.login_challenge,
        ),
        **guards.server_options(settings),
    )
    app[DRAIN_KEY] = drain
    app[SETTINGS_KEY] = settings
    app[guards.GUARD_POLICY_KEY] = policy  # the login and key-setup handlers check with it
    app[API_KEY_STORE_KEY] = ApiKeyStore.open(settings)  # reads a stored PPQ key, if any
    app[PROVIDER_KEY] = provider if provider is not None else default_provider(settings)
    add_routes(app)
    messages.add_routes(app)
    responses.add_routes(app)
    status_routes.add_routes(app)
    app.cleanup_ctx.append(_pool_ctx)
    app.cleanup_ctx.append(_provider_ctx)
    app.cleanup_ctx.append(_catalog_ctx)
    return app


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = create_pool(app[SETTINGS_KEY])
    app[POOL_KEY] = pool
    try:
        yield
    finally:
        await pool.close()


async def _provider_ctx(app: web.Application) -> AsyncIterator[None]:
    provider = app[PROVIDER_KEY]
    await provider.start()  # contract: returns promptly, verification runs in background
    try:
        yield
    finally:
        await provider.close()


async def _catalog_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = app[POOL_KEY]
    settings = app[SETTINGS_KEY]

    async def fetch() -> list[str]:
        return await fetch_catalog(pool, settings)

    catalog = Catalog(fetch, ttl=settings.catalog_ttl)
    app[CATALOG_KEY] = catalog
    catalog.view()  # starts the first fetch in the background
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await catalog.close()


__all__ = ["create_app", "default_provider"]
