"""Typed application state keys (`web.AppKey`), shared by the app factory and handlers.

Other modules (status routes, guards, metrics) read the same state through these keys:
`request.app[SETTINGS_KEY]`, `request.app[PROVIDER_KEY]`, ...
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from privproxy.catalog import Catalog
from privproxy.config import Settings
from privproxy.enclave import EnclaveProvider

SETTINGS_KEY = web.AppKey("privproxy.settings", Settings)
PROVIDER_KEY = web.AppKey("privproxy.provider", EnclaveProvider)
SESSION_KEY = web.AppKey("privproxy.session", aiohttp.ClientSession)
CATALOG_KEY = web.AppKey("privproxy.catalog", Catalog)

__all__ = ["CATALOG_KEY", "PROVIDER_KEY", "SESSION_KEY", "SETTINGS_KEY"]
