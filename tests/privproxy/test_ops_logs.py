"""JSON log lines: one object per line, request ids, per-request metadata, never content."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.ops.log_format import JsonFormatter, TextFormatter
from privproxy.ops.log_setup import configure_logging
from privproxy.server.runner import running
from tests.privproxy.conftest import API_KEY, proxy_settings
from tests.privproxy.fake_gateway import FakeGateway, chat_completion, json_reply

CANARY = "CANARY-prompt-7f3a9 do not log me"
ANSWER = "CANARY-answer-1b2c3"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("privproxy", "attestation", "aiohttp")
    saved = {
        n: (lg.handlers[:], lg.level, lg.propagate) for n in names for lg in [logging.getLogger(n)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
async def test_json_lines_carry_ids_and_metadata_not_content(
    gateway: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion(ANSWER, "kimi-k3"))
    settings = proxy_settings(gateway, tmp_path, port=0, log_format="json", debug=True)
    configure_logging(debug=True, secrets=[API_KEY], log_format="json")
    provider = UnsafeStaticProvider(gateway.public_key, "https://enclave.test")
    body = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": CANARY}]}
    async with running(settings, provider=provider) as server, aiohttp.ClientSession() as s:
        url = f"{server.url}/v1/chat/completions"
        async with s.post(url, json=body, headers={"X-Request-Id": "json-1"}) as resp:
            assert resp.status == 200 and ANSWER in await resp.text()
        async with s.post(url, json={**body, "web_search_options": {}}) as resp:
            assert resp.status == 400
            refused_id = resp.headers["X-Request-Id"]
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line parses
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= line.keys()
    assert CANARY not in err and ANSWER not in err and API_KEY not in err
    mine = [line for line in lines if line["request_id"] == "json-1"]
    assert len(mine) >= 2  # the handler's debug lines and the access line
    access = [line for line in mine if line["logger"] == "privproxy.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["route"] == "/v1/chat/completions" and entry["method"] == "POST"
    assert entry["status"] == 200 and entry["model"] == "private/kimi-k3"
    assert entry["stream"] is False and entry["request_bytes"] > 0
    assert entry["response_bytes"] > 0 and entry["duration_ms"] >= 0
    assert entry["upstream_first_byte_ms"] >= 0
    refused = [
        x for x in lines if x["request_id"] == refused_id and x["logger"] == "privproxy.access"
    ]
    assert refused and refused[0]["status"] == 400


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "privproxy.x", logging.WARNING, __file__, 1, "hello %s", ("w",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_formatter_one_line_and_static_fields() -> None:
    line = JsonFormatter({"simulated": True}).format(_record(request_id="r1", status=503))
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["message"] == "hello w" and obj["level"] == "warning"
    assert obj["request_id"] == "r1" and obj["status"] == 503 and obj["simulated"] is True
    multi = logging.LogRecord("privproxy", logging.INFO, __file__, 1, "a\nb", None, None)
    assert "\n" not in JsonFormatter().format(multi)


def test_text_formatter_shows_request_id() -> None:
    assert TextFormatter().format(_record(request_id="r9")) == "WARNING: [r9] hello w"
    assert TextFormatter().format(_record()) == "WARNING: hello w"


def test_redaction_covers_a_key_shaped_request_id() -> None:
    from privproxy.ops.log_hygiene import RedactingFilter

    record = _record(request_id="sk-abcdefgh12345")
    RedactingFilter().filter(record)
    assert getattr(record, "request_id", None) == "[REDACTED]"
