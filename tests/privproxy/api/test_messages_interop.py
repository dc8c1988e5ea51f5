"""`/v1/messages` against an independent EHBP peer (optional, marker `interop`).

The peer is the mock PPQ gateway + enclave from the project's shared material (located by
`PRIVPROXY_SHARED`); it decrypts requests with its own code and refuses any that are not
EHBP-sealed. Its counters must show every request through the Messages API arrived sealed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import pytest
from anthropic.types import TextBlock
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.app import create_app
from privproxy.server.config import Settings
from tests.privproxy.api.messages_events import check_events
from tests.privproxy.api.test_responses_interop import _get, mock_gateway  # noqa: F401

pytestmark = pytest.mark.interop


async def test_messages_reach_the_independent_peer_only_sealed(
    mock_gateway: str,  # noqa: F811 (the fixture imported above)
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
) -> None:
    key = bytes.fromhex(_get(f"{mock_gateway}/health")["public_key"])
    settings = Settings(
        api_base=mock_gateway,
        api_key=SecretStr("sk-interop-0123456789"),
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
    )
    proxy = await aiohttp_client(
        create_app(settings, provider=UnsafeStaticProvider(key, "https://enclave.test"))
    )
    client = anthropic.AsyncAnthropic(
        base_url=str(proxy.make_url("")).rstrip("/"), api_key="unused", max_retries=0
    )
    request = {
        "model": "private/kimi-k2-5",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "hello"}],
    }
    async with client:
        whole = await client.messages.create(**request)  # type: ignore[call-overload]
        events = []
        stream = await client.messages.create(**request, stream=True)  # type: ignore[call-overload]
        async for event in stream:
            events.append(event.model_dump(mode="json"))
    assert isinstance(whole.content[0], TextBlock)
    assert whole.content[0].text.startswith("MOCKGW-OK")
    text = "".join(b["text"] for b in check_events(events).blocks if b["type"] == "text")
    assert text.startswith("MOCKGW-OK")
    stats = await asyncio.to_thread(_get, f"{mock_gateway}/_mock/stats")
    assert stats["encrypted"] == 2 and stats["plaintext"] == 0 and stats["bad_requests"] == 0
