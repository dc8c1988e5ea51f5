"""End to end: the official `openai` SDK -> privproxy -> simulated gateway/enclave.

The proxy's provider verifies the simulated bundle with the real `attestation` verifier and
the production policy; only the roots are the simulator's, passed explicitly. Everything runs
on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from openai import APIError, APIStatusError, AsyncOpenAI, DefaultAsyncHttpxClient
from openai.types.chat import (
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)
from pydantic import SecretStr

from privproxy.server.config import Settings
from privproxy.simulator.harness import SIMULATED_HEADER, SimulatedStack, simulated_stack
from privproxy.simulator.server import SimulatedGateway
from privproxy.simulator.world import SimulatedWorld, shared_world
from tests.privproxy.demo_process import running_demo

MODEL = "private/gpt-oss-120b"


def _settings(tmp_path: Path) -> Settings:
    # The stack swaps state/cache for a scratch directory; point them at tmp_path anyway so a
    # regression there writes into the test's directory, not the home directory.
    return Settings(
        host="127.0.0.1",
        port=0,
        api_key=SecretStr("sk-simulated-test"),
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SimulatedStack]:
    async with simulated_stack(_settings(tmp_path), gateway=SimulatedGateway(shared_world())) as s:
        yield s


def _client(stack: SimulatedStack) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=stack.openai_base_url,
        api_key="unused",
        max_retries=0,
        http_client=DefaultAsyncHttpxClient(trust_env=False, timeout=30),
    )


async def test_non_stream_chat_with_usage(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "ping from the sdk"}]
        )
    assert raw.headers.get(SIMULATED_HEADER) == "true"
    answer = raw.parse()
    assert answer.choices[0].message.content == "[SIMULATED] You said: ping from the sdk"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    seen = stack.gateway.stats.requests[-1]
    assert seen.encapsulated and seen.private_model == MODEL
    assert seen.enclave_url == f"https://{stack.gateway.enclave.domain}"


async def test_stream_chat_with_final_usage_chunk(stack: SimulatedStack) -> None:
    text, usage = "", None
    async with _client(stack) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "stream this please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                usage = chunk.usage
    assert text == "[SIMULATED] You said: stream this please"
    assert usage is not None and usage.completion_tokens == 6


async def test_tool_call_round_trip(stack: SimulatedStack) -> None:
    tools: list[ChatCompletionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Find an order",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
        }
    ]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Please use lookup_order for my order"}
    ]
    async with _client(stack) as client:
        first = await client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
        choice = first.choices[0]
        assert choice.message.tool_calls
        call = choice.message.tool_calls[0]
        assert isinstance(call, ChatCompletionMessageFunctionToolCall)
        messages += [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": call.function.arguments,
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "shipped"},
        ]
        second = await client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert choice.finish_reason == "tool_calls"
    assert call.function.name == "lookup_order"
    assert json.loads(call.function.arguments) == {"order_id": "simulated"}
    assert second.choices[0].message.content == "[SIMULATED] The tool returned: shipped"


async def test_key_rotation_mid_traffic_loses_no_request(stack: SimulatedStack) -> None:
    gateway = stack.gateway
    async with _client(stack) as client:

        async def ask(i: int) -> str:
            answer = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"request {i}"}]
            )
            return answer.choices[0].message.content or ""

        async def stream_text() -> str:
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "long answer"}], stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        assert await ask(0) == "[SIMULATED] You said: request 0"
        fetches = gateway.stats.attestation_fetches
        # A stream already flowing when the key rotates finishes on its own session keys.
        gateway.faults.stream_delay = 0.05
        streaming = asyncio.create_task(stream_text())
        await asyncio.sleep(0.1)
        # Requests sealed to the old key reach the enclave after it rotated: 422 key-config.
        gateway.faults.latency = 0.3
        burst = asyncio.gather(*(ask(i) for i in range(1, 9)))
        await asyncio.sleep(0.1)
        assert not streaming.done()
        gateway.rotate()
        gateway.faults.latency = 0.0
        assert await burst == [f"[SIMULATED] You said: request {i}" for i in range(1, 9)]
        assert await streaming == "[SIMULATED] You said: long answer"
        gateway.faults.stream_delay = 0.0
        assert await ask(9) == "[SIMULATED] You said: request 9"
    assert gateway.stats.key_mismatches >= 1  # the proxy really met a 422...
    assert gateway.stats.attestation_fetches > fetches  # ...and re-verified the new bundle
    assert all(r.status == 200 for r in gateway.stats.requests if r.status != 422)


@pytest.mark.parametrize(
    ("knob", "value", "status"),
    [("plaintext_status", 402, 402), ("plaintext_status", 429, 429), ("strip_nonce", True, 502)],
)
async def test_gateway_plaintext_answers_surface_honestly(
    stack: SimulatedStack, knob: str, value: object, status: int
) -> None:
    setattr(stack.gateway.faults, knob, value)
    async with _client(stack) as client:
        with pytest.raises(APIStatusError) as err:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hello"}]
            )
    assert err.value.status_code == status
    assert "You said" not in str(err.value.body)  # an unauthenticated body is never relayed


@pytest.mark.parametrize("knob", ["tamper", "truncate"])
async def test_broken_stream_raises_in_the_sdk(stack: SimulatedStack, knob: str) -> None:
    setattr(stack.gateway.faults, knob, True)
    text = ""
    async with _client(stack) as client:
        # The SDK sees a clean error: a 502 when the failure comes before the first
        # authenticated frame (frames that arrive together are authenticated together), else
        # whole events and then the proxy's SSE error event, never half an event (which would
        # surface as a JSON ValueError) and never a silent success.
        with pytest.raises(APIError):
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "a b c d e f g"}], stream=True
            )
            async for chunk in stream:
                text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    if knob == "tamper":  # frame 1 failed: nothing after it was relayed
        assert text != "[SIMULATED] You said: a b c d e f g"


async def test_report_signed_by_the_wrong_chain_sends_nothing(tmp_path: Path) -> None:
    world = shared_world()
    gateway = SimulatedGateway(world)
    gateway.serve(world.boot_enclave(signing_vcek=SimulatedWorld.generate().vcek))
    async with simulated_stack(_settings(tmp_path), gateway=gateway) as stack:
        async with _client(stack) as client:
            with pytest.raises(APIStatusError) as err:
                await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "secret"}]
                )
        assert err.value.status_code == 503
        assert "hardware" in str(err.value.body)  # the failing step is named
        async with aiohttp.ClientSession() as http, http.get(f"{stack.proxy_url}/health") as r:
            health = await r.json()
    assert health["attestation"] is False and health["simulated"] is True
    assert gateway.stats.attestation_fetches >= 1
    assert gateway.stats.chat_requests == 0  # not one sealed request went out


async def test_privproxy_demo_answers_a_chat_request(tmp_path: Path) -> None:
    """`privproxy demo` as a user runs it: a subprocess, loopback only, a throwaway HOME."""
    async with running_demo(tmp_path) as run:
        body = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": "Hello"}]}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{run.url}/v1/chat/completions", json=body) as resp:
                assert resp.status == 200
                assert resp.headers[SIMULATED_HEADER] == "true"
                answer = await resp.json(content_type=None)
            async with http.get(f"{run.url}/health") as resp:
                health = await resp.json()
        assert answer["choices"][0]["message"]["content"] == "[SIMULATED] You said: Hello"
        assert health["simulated"] is True and health["attestation"] is True
    assert run.proc.returncode == 0
    assert all(line.startswith("[SIMULATED] ") for line in run.lines if line.strip())
    assert not any(tmp_path.iterdir())  # nothing written under HOME or the XDG dirs
