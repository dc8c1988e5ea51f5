"""The official `openai` SDK's Responses client → privproxy → simulated gateway/enclave.

The proxy verifies the simulated enclave with the real verifier; every request is sealed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI, BadRequestError, DefaultAsyncHttpxClient
from pydantic import BaseModel, SecretStr

from privproxy.server.config import Settings
from privproxy.simulator.harness import SimulatedStack, simulated_stack
from privproxy.simulator.server import SimulatedGateway
from privproxy.simulator.world import shared_world
from tests.privproxy.api.responses_checks import check_events

MODEL = "private/kimi-k3"
TOOLS: Any = [
    {
        "type": "function",
        "name": "lookup_order",
        "description": "Find an order",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
    {"type": "web_search"},
]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SimulatedStack]:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        api_key=SecretStr("sk-simulated-test"),
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
    )
    async with simulated_stack(settings, gateway=SimulatedGateway(shared_world())) as s:
        yield s


def _client(stack: SimulatedStack) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=stack.openai_base_url,
        api_key="unused",
        max_retries=0,
        http_client=DefaultAsyncHttpxClient(trust_env=False, timeout=30),
    )


async def test_create_non_stream(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        response = await client.responses.create(
            model=MODEL, input="ping from the sdk", instructions="be brief"
        )
    assert response.status == "completed"
    assert response.output_text == "[SIMULATED] You said: ping from the sdk"
    assert response.usage is not None and response.usage.total_tokens > 0
    seen = stack.gateway.stats.requests[-1]
    assert seen.encapsulated and seen.private_model == MODEL


async def test_create_stream(stack: SimulatedStack) -> None:
    events: list[dict[str, Any]] = []
    async with _client(stack) as client:
        stream = await client.responses.create(model=MODEL, input="stream this", stream=True)
        async for event in stream:
            events.append(event.model_dump(mode="json", exclude_unset=True))
    response = check_events(events)
    assert response["output"][0]["content"][0]["text"] == "[SIMULATED] You said: stream this"
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "[SIMULATED] You said: stream this"


async def test_function_call_round_trip(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        first = await client.responses.create(
            model=MODEL, input="Please use lookup_order for my order", tools=TOOLS
        )
        (call,) = [item for item in first.output if item.type == "function_call"]
        assert call.name == "lookup_order"
        assert json.loads(call.arguments) == {"order_id": "simulated"}
        history: Any = [
            {"role": "user", "content": "Please use lookup_order for my order"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "shipped"},
        ]
        async with client.responses.stream(model=MODEL, input=history, tools=TOOLS) as stream:
            async for _ in stream:
                pass
            second = await stream.get_final_response()
    assert second.output_text == "[SIMULATED] The tool returned: shipped"
    assert stack.gateway.stats.requests[-1].encapsulated


class Weather(BaseModel):
    city: str
    degrees: int


async def test_json_schema_output(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        parsed = await client.responses.parse(
            model=MODEL, input="Weather in Paris as JSON", text_format=Weather
        )
    assert parsed.output_parsed == Weather(city="SIMULATED", degrees=1)


async def test_previous_response_id_is_refused_by_default(stack: SimulatedStack) -> None:
    async with _client(stack) as client:
        with pytest.raises(BadRequestError) as info:
            await client.responses.create(model=MODEL, input="x", previous_response_id="resp_x")
    assert "previous_response_id" in str(info.value)
