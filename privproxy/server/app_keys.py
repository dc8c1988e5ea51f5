"""Typed application state keys (`web.AppKey`), shared by the app factory and handlers.

Other modules (status routes, guards, metrics) read the same state through these keys:
`request.app[SETTINGS_KEY]`, `request.app[PROVIDER_KEY]`, ...
"""

from __future__ import annotations

from aiohttp import web

from privproxy.enclave.provider import EnclaveProvider
from privproxy.gateway.catalog import Catalog
from privproxy.gateway.h1 import Pool
from privproxy.server.config import Settings

SETTINGS_KEY = web.AppKey("privproxy.settings", Settings)
PROVIDER_KEY = web.AppKey("privproxy.provider", EnclaveProvider)
POOL_KEY = web.AppKey("privproxy.gateway_pool", Pool)
CATALOG_KEY = web.AppKey("privproxy.catalog", Catalog)

__all__ = ["CATALOG_KEY", "POOL_KEY", "PROVIDER_KEY", "SETTINGS_KEY"]
