"""Gateway and enclave failures before the response starts: honest statuses, one key retry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privproxy.enclave.provider import EnclaveTarget
from privproxy.errors import AttestationUnavailableError
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, Reply, json_reply

MESSAGES = [{"role": "user", "content": "Hello"}]


async def test_key_config_422_reattests_and_retries_once(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    stale = gateway.public_key
    gateway.rotate_key()
    provider = RotatingProvider([stale, gateway.public_key])
    client = await make_proxy(provider=provider)
    gateway.reply = lambda seen: json_reply({"ok": 1})
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 200
    assert await resp.json() == {"ok": 1}
    assert provider.refreshes == 1
    assert gateway.requests == 2  # the stale attempt (422) and the retry
    assert len(gateway.seen) == 1


async def test_second_422_is_502_with_title(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    stale = gateway.public_key
    gateway.rotate_key()
    provider = RotatingProvider([stale, stale])
    client = await make_proxy(provider=provider)
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 502
    err = (await resp.json())["error"]
    assert "failed to read decrypted request body" in err["message"]
    assert provider.refreshes == 1
    assert gateway.requests == 2


async def test_2xx_without_nonce_is_502(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: Reply(plaintext=True, frames=[b'{"fake": "success"}'])
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 502
    body = await resp.json()
    assert body["error"]["type"] == "ehbp_protocol_error"
    assert "fake" not in json.dumps(body)


@pytest.mark.parametrize(
    ("status", "body", "etype", "text"),
    [
        (
            401,
            b'{"error": {"message": "Invalid API key"}}',
            "authentication_error",
            "Invalid API key",
        ),
        (402, b'{"message": "Insufficient balance"}', "gateway_error", "Insufficient balance"),
        (429, b"slow down", "gateway_error", "slow down"),
        (500, b"<html>\x1b[31m oops</html>", "gateway_error", "<html> [31m oops</html>"),
        (503, b"", "gateway_error", "Service Unavailable"),
    ],
)
async def test_plaintext_gateway_errors_pass_through_honestly(
    proxy: ProxyClient, gateway: FakeGateway, status: int, body: bytes, etype: str, text: str
) -> None:
    gateway.reply = lambda seen: Reply(
        status=status, plaintext=True, frames=[body], headers={"Retry-After": "7"}
    )
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == status
    err = (await resp.json())["error"]
    assert err["type"] == etype
    assert err["message"] == f"PPQ gateway answered {status} (not from the enclave): {text}"
    if status in (429, 503):
        assert resp.headers["Retry-After"] == "7"
    else:
        assert "Retry-After" not in resp.headers


async def test_long_gateway_error_text_is_capped(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: Reply(status=500, plaintext=True, frames=[b"x" * 50_000])
    resp = await proxy.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 500
    assert len((await resp.json())["error"]["message"]) < 400


async def test_attestation_unavailable_is_503(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    client = await make_proxy(provider=BrokenProvider())
    resp = await client.post("/v1/chat/completions", json={"messages": MESSAGES})
    assert resp.status == 503
    err = (await resp.json())["error"]
    assert err["type"] == "attestation_unavailable"
    assert "step X failed" in err["message"]
    assert gateway.requests == 0


class RotatingProvider:
    """Hands out `keys` in order: `current()` the first, each `refresh()` the next."""

    def __init__(self, keys: list[bytes]) -> None:
        self._keys = keys
        self.refreshes = 0
        self._target = self._make(0)

    def _make(self, generation: int) -> EnclaveTarget:
        return EnclaveTarget("enclave.test", self._keys[generation], None, generation)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def current(self) -> EnclaveTarget:
        return self._target

    async def refresh(self, stale: EnclaveTarget) -> EnclaveTarget:
        self.refreshes += 1
        self._target = self._make(stale.generation + 1)
        return self._target

    def health(self) -> dict[str, Any]:
        return {"attestation": False, "unsafe": True}


class BrokenProvider(RotatingProvider):
    """No verified enclave available."""

    def __init__(self) -> None:
        super().__init__([b"\x00" * 32])

    async def current(self) -> EnclaveTarget:
        raise AttestationUnavailableError("attestation failed: step X failed")
