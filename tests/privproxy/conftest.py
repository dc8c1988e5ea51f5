"""Fixtures for the proxy tests: a fake EHBP gateway and proxies pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient, AiohttpServer

from privproxy.enclave.provider import EnclaveProvider
from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.app import create_app
from privproxy.server.config import Settings
from tests.privproxy.fake_gateway import FakeGateway

API_KEY = "sk-test-0123456789abcdef"

ProxyClient = TestClient[Any, Any]
MakeProxy = Callable[..., Awaitable[ProxyClient]]


@pytest.fixture
async def gateway(aiohttp_server: AiohttpServer) -> AsyncIterator[FakeGateway]:
    """A running fake gateway; the test fails if any request body arrived in plaintext."""
    gw = FakeGateway()
    server = await aiohttp_server(gw.app)
    gw.base_url = str(server.make_url("")).rstrip("/")
    yield gw
    assert gw.plaintext_leaks == [], "plaintext request body reached the gateway"


def proxy_settings(gateway: FakeGateway, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a proxy in front of `gateway` (no home-directory paths)."""
    values: dict[str, Any] = {
        "api_base": gateway.base_url,
        "api_key": SecretStr(API_KEY),
        "state_dir": tmp_path / "state",
        "cache_dir": tmp_path / "cache",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_proxy(gateway: FakeGateway, aiohttp_client: AiohttpClient, tmp_path: Path) -> MakeProxy:
    """`await make_proxy(provider=..., **settings)` → a test client for a fresh proxy."""

    async def factory(provider: EnclaveProvider | None = None, **overrides: Any) -> ProxyClient:
        settings = proxy_settings(gateway, tmp_path, **overrides)
        if provider is None:
            provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
        client: ProxyClient = await aiohttp_client(create_app(settings, provider=provider))
        return client

    return factory


@pytest.fixture
async def proxy(make_proxy: MakeProxy) -> ProxyClient:
    """A proxy with a configured key, sealing to the gateway's (unattested) key."""
    return await make_proxy()
