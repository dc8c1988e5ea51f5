"""Live checks against the real PPQ gateway (marked `online`; skipped by default).

Run with `python -m pytest -m online tests/online`. They use the network and the user cache
directory (AMD certificates from KDS), which the hermetic suite never does. The chat check
also needs `PPQ_API_KEY` and spends a few tokens of that account.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.online

API_BASE = os.environ.get("PPQ_API_BASE", "https://api.ppq.ai").rstrip("/")


async def test_real_gateway_bundle_verifies_with_production_policy(tmp_path: Path) -> None:
    from attestation.attestor import Attestor
    from attestation.fetch import AiohttpFetcher

    async with AiohttpFetcher() as fetcher:
        attestor = Attestor.production(fetcher, cache_dir=tmp_path)
        verified = await attestor.fetch_and_verify(API_BASE)
    assert verified.repository == "tinfoilsh/confidential-model-router"
    assert len(verified.hpke_public_key) == 32
    assert verified.verified_at <= dt.datetime.now(dt.UTC)


async def test_real_chat_completion_through_the_proxy(tmp_path: Path) -> None:
    key = os.environ.get("PPQ_API_KEY")
    if not key:
        pytest.skip("PPQ_API_KEY not set: the live chat check spends tokens of a real account")
    import openai

    from privproxy.server.config import Settings
    from privproxy.server.runner import running

    settings = Settings.from_env_and_args(
        {
            "PPQ_API_KEY": key,
            "PPQ_API_BASE": API_BASE,
            "PRIVPROXY_STATE_DIR": str(tmp_path / "state"),
            "PRIVPROXY_CACHE_DIR": str(tmp_path / "cache"),
        },
        ["--port", "0"],
    )
    async with running(settings) as server:
        client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        for _ in range(60):  # the first verification runs in the background
            try:
                reply = await client.chat.completions.create(
                    model="private/llama3-3-70b",
                    messages=[{"role": "user", "content": "Say OK."}],
                    max_tokens=5,
                )
                break
            except openai.APIStatusError as err:
                if err.status_code != 503:
                    raise
                import asyncio

                await asyncio.sleep(1)
        else:
            pytest.fail("attestation never became available")
        assert reply.choices[0].message.content
