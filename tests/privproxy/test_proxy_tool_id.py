"""`X-Tool-Id` from the local client reaches the gateway on every API (chat, Responses,
Messages), and only when it is well-formed (the full table of accepted values is in
test_forward_framing)."""

from __future__ import annotations

import pytest

from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, chat_completion, json_reply

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


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/responses", {"model": "private/kimi-k3", "input": "Hello"}),
        (
            "/v1/messages",
            {
                "model": "private/kimi-k3",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": "Hello"}],
            },
        ),
    ],
    ids=["responses", "messages"],
)
@pytest.mark.parametrize(("sent", "forwarded"), [("codex", "codex"), ("b\u00e4d", None)])
async def test_translated_apis_pass_a_well_formed_tool_id(
    proxy: ProxyClient,
    gateway: FakeGateway,
    path: str,
    body: dict[str, object],
    sent: str,
    forwarded: str | None,
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("Hi", seen.body["model"]))
    resp = await proxy.post(path, json=body, headers={"X-Tool-Id": sent})
    assert resp.status == 200, await resp.text()
    (seen,) = gateway.seen
    assert seen.headers.get("X-Tool-Id") == forwarded
