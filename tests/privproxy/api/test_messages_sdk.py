"""The official `anthropic` SDK -> privproxy /v1/messages -> simulated gateway and enclave.

The proxy verifies the simulated enclave with the real verifier (simulator roots passed
explicitly); every request reaches the simulated gateway EHBP-encapsulated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient
from anthropic.types import Message, MessageParam, TextBlock, ToolParam, ToolUseBlock
from pydantic import SecretStr

from privproxy.server.config import Settings
from privproxy.simulator.harness import SIMULATED_HEADER, SimulatedStack, simulated_stack
from privproxy.simulator.server import SimulatedGateway
from privproxy.simulator.world import shared_world

MODEL = "private/kimi-k3"
TOOLS: list[ToolParam] = [
    {
        "name": "lookup_order",
        "description": "Find an order",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    }
]


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        host="127.0.0.1",
        port=0,
        api_key=SecretStr("sk-simulated-test"),
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
        **extra,
    )


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SimulatedStack]:
    settings = _settings(tmp_path, model_aliases=(("claude-haiku-*", "private/gemma4-31b"),))
    async with simulated_stack(settings, gateway=SimulatedGateway(shared_world())) as s:
        yield s


def _client(stack: SimulatedStack) -> AsyncAnthropic:
    return AsyncAnthropic(
        base_url=stack.proxy_url,
        api_key="unused-local",
        max_retries=0,
        http_client=DefaultAsyncHttpxClient(trust_env=False, timeout=30),
    )


def _sealed(stack: SimulatedStack, model: str = MODEL) -> None:
    seen = stack.gateway.stats.requests[-1]
    assert seen.encapsulated and seen.private_model == model


async def test_create_non_stream(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        raw = await client.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=64,
            system="You are terse.",
            messages=[{"role": "user", "content": "ping from claude"}],
        )
    assert raw.headers.get(SIMULATED_HEADER) == "true"
    message = await raw.parse()
    assert message.model == MODEL
    assert message.id.startswith("msg_")
    block = message.content[0]
    assert isinstance(block, TextBlock)
    assert block.text == "[SIMULATED] You said: ping from claude"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 6)  # words
    _sealed(stack)


async def test_create_stream(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        async with client.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": [{"type": "text", "text": "stream this"}]}],
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert isinstance(final.content[0], TextBlock)
    assert final.content[0].text == "[SIMULATED] You said: stream this"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5
    _sealed(stack)


@pytest.mark.parametrize("streamed", [False, True])
async def test_tool_use_round_trip(stack: SimulatedStack, streamed: bool) -> None:
    messages: list[MessageParam] = [
        {"role": "user", "content": "Please use lookup_order for my order"}
    ]
    first: Message
    async with _client(stack) as client:
        if streamed:
            async with client.messages.stream(
                model=MODEL, max_tokens=64, tools=TOOLS, messages=messages
            ) as stream:
                first = await stream.get_final_message()
        else:
            first = await client.messages.create(
                model=MODEL, max_tokens=64, tools=TOOLS, messages=messages
            )
        assert first.stop_reason == "tool_use"
        call = first.content[-1]
        assert isinstance(call, ToolUseBlock)
        assert call.name == "lookup_order" and call.input == {"order_id": "simulated"}
        messages += [
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "shipped"}],
            },
        ]
        second = await client.messages.create(
            model=MODEL, max_tokens=64, tools=TOOLS, messages=messages
        )
    assert second.stop_reason == "end_turn"
    assert isinstance(second.content[0], TextBlock)
    assert second.content[0].text == "[SIMULATED] The tool returned: shipped"
    _sealed(stack)


async def test_count_tokens_is_a_marked_estimate(stack: SimulatedStack) -> None:
    before = len(stack.gateway.stats.requests)
    async with _client(stack) as client:
        raw = await client.messages.with_raw_response.count_tokens(
            model=MODEL, tools=TOOLS, messages=[{"role": "user", "content": "word " * 100}]
        )
    counted = await raw.parse()
    assert counted.input_tokens > 100
    assert raw.headers["X-Privproxy-Token-Count"].startswith("estimate")
    assert (await raw.http_response.aread()).find(b'"estimate":true') >= 0
    assert len(stack.gateway.stats.requests) == before  # answered locally


async def test_agent_default_model_refused_with_guidance(stack: SimulatedStack) -> None:
    before = len(stack.gateway.stats.requests)
    async with _client(stack) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
            )
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "private/kimi-k3" in message and "ANTHROPIC_MODEL" in message
    assert "--model-alias" in message
    assert len(stack.gateway.stats.requests) == before


async def test_mapped_alias_reaches_the_private_model(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        message = await client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert message.model == "claude-haiku-4-5"  # echoed as the client named it
    _sealed(stack, "private/gemma4-31b")
