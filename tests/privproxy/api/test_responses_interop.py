"""`/v1/responses` against an independent EHBP peer (optional, marker `interop`).

The peer is the mock PPQ gateway + enclave from the project's shared material (located by
`PRIVPROXY_SHARED`); it decrypts requests with its own code and refuses any that are not
EHBP-sealed. Its counters must show every request through the Responses API arrived sealed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.app import create_app
from privproxy.server.config import Settings
from tests.conftest import shared_path
from tests.privproxy.api.responses_checks import check_events

pytestmark = pytest.mark.interop


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read())


@pytest.fixture
def mock_gateway() -> Iterator[str]:
    script = shared_path("bench", "mock_gateway.py")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--host", "127.0.0.1", "--port", str(port), "--ehbp", "require", "--chunks", "5"]
    proc = subprocess.Popen(
        [sys.executable, str(script), *args, "--no-uvloop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                _get(f"{base}/health")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("the mock gateway exited at start")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_responses_reach_the_independent_peer_only_sealed(
    mock_gateway: str, aiohttp_client: AiohttpClient, tmp_path: Path
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
    client = openai.AsyncOpenAI(
        base_url=str(proxy.make_url("/v1")), api_key="unused", max_retries=0
    )
    async with client:
        whole = await client.responses.create(model="private/kimi-k2-5", input="hello")
        events = []
        stream = await client.responses.create(
            model="private/kimi-k2-5", input="hello", stream=True
        )
        async for event in stream:
            events.append(event.model_dump(mode="json", exclude_unset=True))
    assert whole.output_text.startswith("MOCKGW-OK")
    assert check_events(events)["output"][0]["content"][0]["text"].startswith("MOCKGW-OK")
    stats = await asyncio.to_thread(_get, f"{mock_gateway}/_mock/stats")
    assert stats["encrypted"] == 2 and stats["plaintext"] == 0 and stats["bad_requests"] == 0
