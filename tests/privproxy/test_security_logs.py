"""Log hygiene: at DEBUG, nothing secret or content-bearing reaches the logs.

The proxy runs under the production runner with `debug=True` (so the access log is on too);
every logger is captured at DEBUG through a handler WITHOUT the redacting filter, so this
checks that no code path logs the prompt, the completion, the PPQ key, the local token or
ciphertext, not merely that the filter hides them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.server.runner import running
from tests.privproxy.conftest import API_KEY, proxy_settings
from tests.privproxy.fake_gateway import FakeGateway, Reply, chunk, sse_reply
from tests.privproxy.test_security_support import LOCAL_TOKEN, MARKER, MODEL, chat_body

COMPLETION = "COMPLETION-MARKER-a81d"
LOGGERS = ("", "privproxy", "attestation", "aiohttp", "aiohttp.access", "aiohttp.server")


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """Every record of every relevant logger at DEBUG, into one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield buffer
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


async def test_debug_logs_carry_metadata_only(
    gateway: FakeGateway, tmp_path: Path, debug_logs: io.StringIO
) -> None:
    settings = proxy_settings(
        gateway,
        tmp_path,
        port=0,
        debug=True,
        token=SecretStr(LOCAL_TOKEN),
        upstream_first_byte_timeout=1.0,
        upstream_idle_timeout=1.0,
    )
    provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
    good = sse_reply([chunk(COMPLETION, MODEL)])
    # A hostile gateway echoing secrets and content into its error text.
    echo = f'{{"error":{{"message":"{MARKER} {API_KEY} {LOCAL_TOKEN}"}}}}'.encode()
    replies = [
        good,
        Reply(frames=[f'{{"choices":[{{"message":{{"content":"{COMPLETION}"}}}}]}}'.encode()]),
        Reply(content_type="text/event-stream", frames=good.frames, tamper_frame=1),
        Reply(status=500, plaintext=True, frames=[echo]),
        Reply(status=401, plaintext=True, frames=[echo]),
        Reply(plaintext=True, frames=[echo]),  # 200 without nonce
    ]
    auth = {"Authorization": f"Bearer {LOCAL_TOKEN}"}
    async with running(settings, provider=provider) as server:
        url = server.url + "/v1/chat/completions"
        async with aiohttp.ClientSession() as session:
            for reply in replies:
                gateway.reply = lambda seen, reply=reply: reply  # type: ignore[misc]
                async with session.post(url, json=chat_body(), headers=auth) as resp:
                    await resp.read()
            # Refusals carrying secrets in places a careless log line would print.
            async with session.post(
                url, json=chat_body(), headers={"Authorization": f"Bearer {LOCAL_TOKEN}x"}
            ) as resp:
                assert resp.status == 401
            async with session.post(
                url + f"?q={MARKER}", data=MARKER, headers={**auth, "Content-Type": "text/plain"}
            ) as resp:
                assert resp.status == 415
            async with session.post(
                url,
                data=b'{"messages": "' + MARKER.encode(),
                headers={**auth, "Content-Type": "application/json"},
            ) as resp:
                assert resp.status == 400

    logs = debug_logs.getvalue()
    # The capture works and DEBUG metadata is there (else this test would prove nothing).
    assert "DEBUG privproxy" in logs
    assert "private/kimi-k3" in logs
    seen = gateway.seen
    assert len(seen) == len(replies)
    ciphertexts = [s.raw_body for s in seen]
    forbidden = {
        "prompt marker": MARKER,
        "completion": COMPLETION,
        "PPQ key": API_KEY,
        "local token": LOCAL_TOKEN,
        "encapsulated key": seen[0].enc.hex(),
        "ciphertext (hex)": ciphertexts[0][4:24].hex(),
        "ciphertext (repr)": repr(ciphertexts[0][4:24])[2:-1],
    }
    for what, value in forbidden.items():
        assert value not in logs, f"{what} found in DEBUG logs"
