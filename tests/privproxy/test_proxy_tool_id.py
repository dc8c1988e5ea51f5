"""`X-Tool-Id` from the local client reaches the gateway through the chat route, and only
when it is well-formed (the full table of accepted values is in test_forward_framing)."""

from __future__ import annotations

import pytest

from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway

BODY = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [("openclaw", "openclaw"), ("codex:0.122.0", "codex:0.122.0"), ("bad id!", None)],
)
async def test_chat_passes_a_well_formed_tool_id(
    proxy: ProxyClient, gateway: FakeGateway, sent: str, forwarded: str | None
) -> None:
    resp = await proxy.post("/v1/chat/completions", json=BODY, headers={"X-Tool-Id": sent})
    assert resp.status == 200
    (seen,) = gateway.seen
    assert seen.headers.get("X-Tool-Id") == forwarded


async def test_chat_without_tool_id_sends_none(proxy: ProxyClient, gateway: FakeGateway) -> None:
    resp = await proxy.post("/v1/chat/completions", json=BODY)
    assert resp.status == 200
    (seen,) = gateway.seen
    assert "X-Tool-Id" not in seen.headers
