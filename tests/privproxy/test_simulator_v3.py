"""v3 through the simulator: the real v3 verifier, the simulator's roots passed explicitly.

The simulated gateway also plays the enclave's `/.well-known/tinfoil-attestation` endpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pydantic import SecretStr

from attestation.errors import AttestationError, Code
from attestation.v3 import verify_document
from privproxy.server.config import Settings
from privproxy.simulator.harness import SIMULATED_HEADER, SimulatedStack, simulated_stack
from privproxy.simulator.server import SimulatedGateway
from privproxy.simulator.v3 import V3Material
from privproxy.simulator.world import DEFAULT_REPOSITORY, shared_world
from tests.privproxy.demo_process import running_demo

MODEL = "private/gpt-oss-120b"


def _settings(tmp_path: Path, attestation: Literal["v2", "v3", "auto"]) -> Settings:
    return Settings(
        host="127.0.0.1",
        port=0,
        api_key=SecretStr("sk-simulated-test"),
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
        attestation=attestation,
    )


async def _json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def _wait_state(stack: SimulatedStack, *states: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            _, doc = await _json(f"{stack.proxy_url}/v1/verification")
            if doc["state"] in states:
                return dict(doc)
            await asyncio.sleep(0.05)


@pytest.fixture
async def v3_stack(tmp_path: Path) -> AsyncIterator[SimulatedStack]:
    gateway = SimulatedGateway(shared_world())
    async with simulated_stack(_settings(tmp_path, "v3"), gateway=gateway) as stack:
        yield stack


def test_simulated_document_verifies_only_with_the_simulator_trust() -> None:
    world = shared_world()
    material = V3Material.generate(world)
    enclave = world.boot_enclave()
    nonce = os.urandom(32)
    document = material.document(enclave, nonce)
    now = dt.datetime.now(dt.UTC)
    result = verify_document(
        document,
        nonce=nonce,
        repository=DEFAULT_REPOSITORY,
        trust=world.trust(),
        now=now,
        domain=enclave.domain,
    )
    assert result.attestation_format == "v3"
    assert result.hpke_public_key == enclave.hpke_public_key
    assert result.freshness_expires_at == material.freshness_deadline
    from attestation.trust import Trust

    with pytest.raises(AttestationError) as info:  # production roots: refused
        verify_document(
            document,
            nonce=nonce,
            repository=DEFAULT_REPOSITORY,
            trust=Trust.production(),
            now=now,
            domain=enclave.domain,
        )
    assert info.value.code is Code.V3_PROV_SIGSTORE_VERIFY


def test_simulated_unendorsed_chip_and_stale_witness_are_refused() -> None:
    world = shared_world()
    enclave = world.boot_enclave()
    nonce = os.urandom(32)
    now = dt.datetime.now(dt.UTC)
    cases = {
        Code.V3_POLICY_NOT_ENDORSED: V3Material.generate(world, endorse_chip=False),
        Code.V3_PROV_FRESHNESS_STALE: V3Material.generate(
            world, witnessed_at=now - dt.timedelta(days=7, minutes=1)
        ),
    }
    for code, material in cases.items():
        with pytest.raises(AttestationError) as info:
            verify_document(
                material.document(enclave, nonce),
                nonce=nonce,
                repository=DEFAULT_REPOSITORY,
                trust=world.trust(),
                now=now,
                domain=enclave.domain,
            )
        assert info.value.code is code


async def test_openai_sdk_through_v3_and_verification_names_v3(v3_stack: SimulatedStack) -> None:
    async with AsyncOpenAI(
        base_url=v3_stack.openai_base_url,
        api_key="unused",
        max_retries=0,
        http_client=DefaultAsyncHttpxClient(trust_env=False, timeout=30),
    ) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "ping over v3"}]
        )
        text = ""
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "stream"}], stream=True
        )
        async for event in stream:
            for choice in event.choices:
                text += choice.delta.content or ""
    assert raw.headers.get(SIMULATED_HEADER) == "true"
    assert raw.parse().choices[0].message.content == "[SIMULATED] You said: ping over v3"
    assert text == "[SIMULATED] You said: stream"
    gateway = v3_stack.gateway
    assert gateway.stats.v3_document_fetches >= 1
    assert gateway.stats.attestation_fetches == gateway.stats.v3_document_fetches  # no v2
    status, doc = await _json(f"{v3_stack.proxy_url}/v1/verification")
    assert status == 200 and doc["state"] == "verified"
    deadline = (gateway.v3_material or _shared(gateway)).freshness_deadline
    deadline_text = deadline.isoformat().replace("+00:00", "Z")
    assert doc["attestation"]["format"] == "v3" and doc["attestation"]["configured"] == "v3"
    assert doc["attestation"]["freshness_expires_at"] == deadline_text
    assert "NOT verified" in doc["attestation"]["gpu_evidence"]
    assert doc["enclave"]["attestation_format"] == "v3"
    assert doc["enclave"]["platform_policy"] == "amd-genoa-simulated"
    assert doc["expires_at"] <= deadline_text  # max age (1 day) or the deadline, if sooner
    status, ready = await _json(f"{v3_stack.proxy_url}/readyz")
    assert status == 200
    assert ready["attestation_format"] == "v3" and ready["freshness_expires_at"] == deadline_text
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{v3_stack.proxy_url}/", headers={"Accept": "text/html"}) as resp:
            page = await resp.text()
    assert "Freshness deadline" in page and deadline_text in page


def _shared(gateway: SimulatedGateway) -> V3Material:
    from privproxy.simulator.v3 import shared_v3

    return shared_v3(gateway.world)


async def test_auto_falls_back_to_v2_only_when_v3_is_absent(tmp_path: Path) -> None:
    gateway = SimulatedGateway(shared_world())
    gateway.serve_v3 = False
    async with simulated_stack(_settings(tmp_path, "auto"), gateway=gateway) as stack:
        doc = await _wait_state(stack, "verified", "failed")
    assert doc["state"] == "verified"
    assert doc["attestation"] == {**doc["attestation"], "configured": "auto", "format": "v2"}
    assert gateway.stats.v3_document_fetches >= 1  # v3 was tried first


async def test_auto_never_falls_back_after_a_v3_rejection(tmp_path: Path) -> None:
    gateway = SimulatedGateway(shared_world())
    gateway.v3_material = V3Material.generate(gateway.world, endorse_chip=False)
    async with simulated_stack(_settings(tmp_path, "auto"), gateway=gateway) as stack:
        doc = await _wait_state(stack, "verified", "failed")
        status, _ = await _json(f"{stack.proxy_url}/readyz")
    assert doc["state"] == "failed" and status == 503
    assert doc["error"]["code"] == "V3_POLICY_NOT_ENDORSED"
    assert gateway.stats.attestation_fetches == gateway.stats.v3_document_fetches  # no v2
    assert gateway.stats.chat_requests == 0


async def test_privproxy_demo_attestation_v3_with_the_openai_sdk(tmp_path: Path) -> None:
    """`privproxy demo --attestation v3` as a user runs it, checked with the `openai` SDK."""
    async with running_demo(tmp_path, "--attestation", "v3") as run:
        async with AsyncOpenAI(
            base_url=f"{run.url}/v1",
            api_key="unused",
            max_retries=0,
            http_client=DefaultAsyncHttpxClient(trust_env=False, timeout=30),
        ) as client:
            answer = await client.chat.completions.create(
                model="private/kimi-k3", messages=[{"role": "user", "content": "Hello"}]
            )
        assert answer.choices[0].message.content == "[SIMULATED] You said: Hello"
        status, doc = await _json(f"{run.url}/v1/verification")
        assert status == 200
        assert doc["attestation"]["format"] == "v3"
        assert doc["attestation"]["freshness_expires_at"].endswith("Z")
        assert doc["enclave"]["freshness_expires_at"] == doc["attestation"]["freshness_expires_at"]
    assert run.proc.returncode == 0
    assert any("attestation v3" in line for line in run.lines)
    assert not any(tmp_path.iterdir())


async def test_stale_witnesses_mean_no_traffic_and_name_the_step(tmp_path: Path) -> None:
    gateway = SimulatedGateway(shared_world())
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(days=7, hours=1)
    gateway.v3_material = V3Material.generate(gateway.world, witnessed_at=stale)
    async with simulated_stack(_settings(tmp_path, "v3"), gateway=gateway) as stack:
        doc = await _wait_state(stack, "verified", "failed")
        async with aiohttp.ClientSession() as http:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "secret"}]}
            async with http.post(f"{stack.proxy_url}/v1/chat/completions", json=body) as resp:
                status, text = resp.status, await resp.text()
    assert doc["state"] == "failed" and doc["enclave"] is None
    assert (doc["error"]["step"], doc["error"]["code"]) == ("freshness", "V3_PROV_FRESHNESS_STALE")
    assert status == 503 and "freshness" in text and "secret" not in text
    assert gateway.stats.chat_requests == 0  # nothing was sealed to an unverified key
