"""Probe aliases answer like the probes they alias, without the local token."""

from __future__ import annotations

import pytest

from privproxy.enclave.unsafe import UnsafeStaticProvider
from tests.privproxy.conftest import MakeProxy
from tests.privproxy.fake_gateway import FakeGateway


@pytest.mark.parametrize(
    ("alias", "probe"),
    [
        ("/health/liveliness", "/healthz"),
        ("/health/liveness", "/healthz"),
        ("/health/readiness", "/readyz"),
    ],
)
async def test_alias_answers_like_probe(
    make_proxy: MakeProxy, gateway: FakeGateway, alias: str, probe: str
) -> None:
    provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
    client = await make_proxy(provider=provider, require_token=True, token="t" * 32)
    a, p = await client.get(alias), await client.get(probe)
    assert a.status == p.status  # token-exempt like the probe
    assert await a.json() == await p.json()
    # Everything else still needs the token.
    assert (await client.get("/v1/models")).status == 401
