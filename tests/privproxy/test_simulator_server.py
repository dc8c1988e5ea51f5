"""The simulated gateway speaks EHBP and PPQ's header contract, and its fault knobs work.

The client side here is `privproxy.ehbp` (written separately from the simulator's server
side), so a passing exchange cross-checks the two implementations.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from privproxy.ehbp import (
    ENCAPSULATED_KEY_HEADER,
    KEY_CONFIG_PROBLEM_TYPE,
    RESPONSE_NONCE_HEADER,
    EhbpError,
    seal_request,
)
from privproxy.simulator.server import SimulatedGateway, rechunk
from privproxy.simulator.world import shared_world

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def gateway() -> SimulatedGateway:
    return SimulatedGateway(shared_world())


def _headers(gateway: SimulatedGateway, model: str = "private/gpt-oss-120b") -> dict[str, str]:
    return {
        "Authorization": "Bearer sk-test",
        "X-Private-Model": model,
        "x-query-source": "api",
        "X-Tinfoil-Enclave-Url": f"https://{gateway.enclave.domain}",
        "Content-Type": "application/json",
    }


async def _exchange(
    client: Client,
    gateway: SimulatedGateway,
    payload: dict[str, Any],
    *,
    key: bytes | None = None,
) -> tuple[int, dict[str, str], list[bytes], list[bytes]]:
    """POST a sealed request; returns status, headers, raw wire chunks, decrypted frames."""
    sealed = seal_request(key or gateway.enclave.hpke_public_key, json.dumps(payload).encode())
    headers = {
        **_headers(gateway, f"private/{payload['model']}"),
        ENCAPSULATED_KEY_HEADER: sealed.enc_hex,
    }
    resp = await client.post("/private/v1/chat/completions", data=sealed.body, headers=headers)
    wire = [chunk async for chunk in resp.content.iter_any()]
    nonce = resp.headers.get(RESPONSE_NONCE_HEADER)
    frames: list[bytes] = []
    if nonce is not None:
        decryptor = sealed.secret.decryptor(nonce)
        for chunk in wire:
            frames += decryptor.push(chunk)
        decryptor.finish()
    return resp.status, dict(resp.headers), wire, frames


def _chat(model: str = "gpt-oss-120b", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}


async def test_attestation_and_catalog(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    client = await aiohttp_client(gateway.app())
    resp = await client.get("/private/attestation")
    assert resp.status == 200
    assert await resp.read() == gateway.enclave.bundle_json
    catalog = await (await client.get("/v1/models?type=all")).json()
    ids = [m["id"] for m in catalog["data"]]
    assert "private/gpt-oss-120b" in ids and "simulated-plain-model" in ids
    assert gateway.stats.attestation_fetches == 1


async def test_non_stream_answer_is_encrypted_json_with_usage(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    client = await aiohttp_client(gateway.app())
    status, headers, wire, frames = await _exchange(client, gateway, _chat())
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert b"hello there" not in b"".join(wire)  # ciphertext on the wire
    answer = json.loads(b"".join(frames))
    assert answer["choices"][0]["message"]["content"] == "[SIMULATED] You said: hello there"
    assert answer["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    assert len(frames) == 2  # even a JSON answer spans frames


async def test_stream_frames_do_not_follow_sse_events(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    client = await aiohttp_client(gateway.app())
    status, headers, _, frames = await _exchange(client, gateway, _chat(stream=True))
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert any(not f.endswith(b"\n\n") for f in frames)  # a frame split an event
    assert any(f.count(b"data: ") > 1 for f in frames)  # a frame joined events
    events = b"".join(frames).decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    usage_chunk = json.loads(events[-3].removeprefix("data: "))
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] == 7
    text = "".join(
        json.loads(e.removeprefix("data: "))["choices"][0]["delta"].get("content") or ""
        for e in events[:-3]
    )
    assert text == "[SIMULATED] You said: hello there"


async def test_tool_call_when_the_prompt_names_a_tool(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city"],
                },
            },
        }
    ]
    payload = {
        "model": "gpt-oss-120b",
        "messages": [{"role": "user", "content": "call get_weather please"}],
        "tools": tools,
    }
    client = await aiohttp_client(gateway.app())
    _, _, _, frames = await _exchange(client, gateway, payload)
    choice = json.loads(b"".join(frames))["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "simulated"}


async def test_rotation_answers_422_key_config_to_the_old_key(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    client = await aiohttp_client(gateway.app())
    old_key = gateway.enclave.hpke_public_key
    gateway.rotate()
    status, headers, wire, _ = await _exchange(client, gateway, _chat(), key=old_key)
    assert status == 422 and RESPONSE_NONCE_HEADER not in headers
    assert headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(b"".join(wire))["type"] == KEY_CONFIG_PROBLEM_TYPE
    assert gateway.stats.key_mismatches == 1
    status, *_ = await _exchange(client, gateway, _chat())
    assert status == 200


async def test_plaintext_bodies_and_missing_keys_are_refused(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    client = await aiohttp_client(gateway.app())
    resp = await client.post(
        "/private/v1/chat/completions", data=json.dumps(_chat()), headers=_headers(gateway)
    )
    assert resp.status == 400 and gateway.stats.plaintext_refused == 1
    no_auth = {k: v for k, v in _headers(gateway).items() if k != "Authorization"}
    resp = await client.post("/private/v1/chat/completions", data=b"x", headers=no_auth)
    assert resp.status == 401 and RESPONSE_NONCE_HEADER not in resp.headers


@pytest.mark.parametrize("status", [401, 402, 429, 500])
async def test_plaintext_gateway_errors_carry_no_nonce(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway, status: int
) -> None:
    gateway.faults.plaintext_status = status
    client = await aiohttp_client(gateway.app())
    got, headers, wire, frames = await _exchange(client, gateway, _chat())
    assert got == status and RESPONSE_NONCE_HEADER not in headers and frames == []
    assert "error" in json.loads(b"".join(wire))
    assert ("Retry-After" in headers) == (status == 429)


@pytest.mark.parametrize("fault", ["truncate", "tamper"])
async def test_broken_frames_fail_decryption(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway, fault: str
) -> None:
    setattr(gateway.faults, fault, True)
    client = await aiohttp_client(gateway.app())
    with pytest.raises(EhbpError):
        await _exchange(client, gateway, _chat(stream=True))


async def test_strip_nonce_sends_an_unauthenticated_success(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    gateway.faults.strip_nonce = True
    client = await aiohttp_client(gateway.app())
    status, headers, _, frames = await _exchange(client, gateway, _chat())
    assert status == 200 and RESPONSE_NONCE_HEADER not in headers and frames == []


async def test_enclave_checks_model_header_and_model(
    aiohttp_client: ClientFactory, gateway: SimulatedGateway
) -> None:
    client = await aiohttp_client(gateway.app())
    status, headers, _, frames = await _exchange(client, gateway, _chat("no-such-model"))
    assert status == 404 and RESPONSE_NONCE_HEADER in headers  # encrypted, from the enclave
    assert json.loads(b"".join(frames))["error"]["message"] == "The model does not exist."
    wrong_url = {**_headers(gateway), "X-Tinfoil-Enclave-Url": "https://elsewhere.invalid"}
    resp = await client.post("/private/v1/chat/completions", data=b"x", headers=wrong_url)
    assert resp.status == 502


def test_rechunk_cycles_the_pattern() -> None:
    assert list(rechunk([b"abcdef", b"ghij"], (3, 1))) == [b"abc", b"d", b"efg", b"h", b"ij"]
