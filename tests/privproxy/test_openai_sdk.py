"""The official `openai` SDK against the proxy: non-stream, stream and a tool call."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.privproxy.conftest import ProxyClient
from tests.privproxy.fake_gateway import FakeGateway, Seen, chat_completion, chunk, json_reply
from tests.privproxy.fake_gateway import sse_reply as sse


def _client(proxy: ProxyClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=str(proxy.make_url("/v1")), api_key="sk-local-unused", max_retries=0
    )


async def test_sdk_non_stream(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda seen: json_reply(
        chat_completion(f"echo {seen.body['messages'][0]['content']}", seen.body["model"]),
        frames=2,
    )
    async with _client(proxy) as client:
        result = await client.chat.completions.create(
            model="private/kimi-k3", messages=[{"role": "user", "content": "ping"}]
        )
    assert result.choices[0].message.content == "echo ping"
    assert result.model == "kimi-k3"
    assert gateway.seen[-1].headers["X-Private-Model"] == "private/kimi-k3"


async def test_sdk_stream(proxy: ProxyClient, gateway: FakeGateway) -> None:
    parts = ["Hel", "lo ", "world"]
    gateway.reply = lambda seen: sse(
        [chunk(p, "gpt-oss-120b") for p in parts] + [chunk("", "gpt-oss-120b", finish="stop")],
        split_event=True,
    )
    received: list[str] = []
    async with _client(proxy) as client:
        stream = await client.chat.completions.create(
            model="gpt-oss-120b",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for event in stream:
            for choice in event.choices:
                if choice.delta.content:
                    received.append(choice.delta.content)
    assert "".join(received) == "Hello world"
    assert gateway.seen[-1].body["stream_options"] == {"include_usage": True}


def _tool_call_reply(seen: Seen) -> Any:
    tool = seen.body["tools"][0]["function"]["name"]
    completion = chat_completion("", seen.body["model"])
    completion["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": tool, "arguments": json.dumps({"city": "Paris"})},
            }
        ],
    }
    completion["choices"][0]["finish_reason"] = "tool_calls"
    return json_reply(completion)


async def test_sdk_tool_call(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.reply = _tool_call_reply
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    async with _client(proxy) as client:
        result = await client.chat.completions.create(
            model="private/gpt-oss-120b",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=tools,
            tool_choice="auto",
        )
    call = result.choices[0].message.tool_calls
    assert call is not None
    assert call[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call[0].function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    sent = gateway.seen[-1].body
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "auto"


async def test_sdk_sees_gateway_error_status(proxy: ProxyClient, gateway: FakeGateway) -> None:
    from tests.privproxy.fake_gateway import Reply

    gateway.reply = lambda seen: Reply(
        status=402, plaintext=True, frames=[b'{"message": "Insufficient balance"}']
    )
    async with _client(proxy) as client:
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(
                model="private/kimi-k3", messages=[{"role": "user", "content": "x"}]
            )
    assert info.value.status_code == 402
    assert "Insufficient balance" in str(info.value)
