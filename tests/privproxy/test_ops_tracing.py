"""OpenTelemetry traces via the SDK's in-memory exporter: names, attributes, no content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pytest_aiohttp import AiohttpClient

from privproxy.enclave.unsafe import UnsafeStaticProvider
from privproxy.ops import tracing
from privproxy.server.app import create_app
from privproxy.server.app_keys import CATALOG_KEY
from tests.privproxy.conftest import ProxyClient, proxy_settings
from tests.privproxy.fake_gateway import (
    FakeGateway,
    chat_completion,
    chunk,
    json_reply,
    sse_reply,
)

CANARY = "CANARY-traced-prompt-55e1"
ANSWER = "CANARY-traced-answer-91aa"
CHAT = {"model": "private/kimi-k3", "messages": [{"role": "user", "content": CANARY}]}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    yield exp
    exp.shutdown()


@pytest.fixture
async def traced(
    gateway: FakeGateway,
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> ProxyClient:
    # Whatever the content-capture switch says, no content may be recorded.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(
        proxy_settings(gateway, tmp_path),
        provider=UnsafeStaticProvider(gateway.public_key, "https://enclave.test"),
    )
    app[tracing.TRACER_KEY] = tracing.RequestTracer(provider)
    client: ProxyClient = await aiohttp_client(app)
    return client


def _everything(span: ReadableSpan) -> str:
    parts: list[Any] = [span.name, dict(span.attributes or {})]
    parts += [(e.name, dict(e.attributes or {})) for e in span.events]
    return repr(parts)


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


async def test_chat_span_with_phases_and_usage(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion(ANSWER, "kimi-k3"))
    resp = await traced.post("/v1/chat/completions", json=CHAT, headers={"X-Request-Id": "t-1"})
    assert resp.status == 200 and ANSWER in await resp.text()
    spans = exporter.get_finished_spans()
    named = _by_name(spans)
    assert set(named) == {"chat private/kimi-k3", *tracing.PHASES}
    root = named["chat private/kimi-k3"]
    assert root.kind == SpanKind.SERVER and root.parent is None
    attrs = dict(root.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "private/kimi-k3"
    assert attrs["gen_ai.usage.input_tokens"] == 3 and attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["http.response.status_code"] == 200
    assert attrs["privproxy.request_id"] == "t-1" and attrs["privproxy.stream"] is False
    for phase in tracing.PHASES:
        child = named[phase]
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
        assert root.start_time is not None and child.start_time is not None
        assert child.end_time is not None and root.end_time is not None
        assert root.start_time <= child.start_time <= child.end_time <= root.end_time
    for span in spans:
        assert CANARY not in _everything(span) and ANSWER not in _everything(span)
        assert "kimi-k3" not in repr(span.events)


async def test_stream_span_has_no_usage_and_no_content(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: sse_reply([chunk(ANSWER, "kimi-k3"), chunk("!", "kimi-k3")])
    resp = await traced.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert ANSWER in await resp.text()
    root = _by_name(exporter.get_finished_spans())["chat private/kimi-k3"]
    attrs = dict(root.attributes or {})
    assert attrs["privproxy.stream"] is True
    assert "gen_ai.usage.input_tokens" not in attrs
    for span in exporter.get_finished_spans():
        assert CANARY not in _everything(span) and ANSWER not in _everything(span)


async def test_refused_request_still_traced(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    resp = await traced.post("/v1/chat/completions", json={**CHAT, "web_search_options": {}})
    assert resp.status == 400
    (root,) = exporter.get_finished_spans()  # refused at intake: no phases
    assert root.name == "chat"
    assert dict(root.attributes or {})["http.response.status_code"] == 400


async def test_gateway_failure_marks_error(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: _plain_502()
    resp = await traced.post("/v1/chat/completions", json=CHAT)
    assert resp.status >= 500
    root = _by_name(exporter.get_finished_spans())["chat private/kimi-k3"]
    assert root.status.status_code == StatusCode.ERROR


def _plain_502() -> Any:
    from tests.privproxy.fake_gateway import Reply

    return Reply(status=502, plaintext=True, content_type="text/plain", frames=[b"bad gateway"])


def test_enabled_by_environment() -> None:
    assert not tracing.enabled_by({})
    assert tracing.enabled_by({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.enabled_by({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.enabled_by({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.enabled_by(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert tracing.from_environment({}) is None
    tracer = tracing.from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert tracer is not None
    tracer.shutdown()


def test_usage_from_body() -> None:
    assert tracing.usage_from_body(b'{"usage":{"prompt_tokens":4,"completion_tokens":9}}') == (4, 9)
    assert tracing.usage_from_body(b'{"usage":{"prompt_tokens":true}}') == (None, None)
    assert tracing.usage_from_body(b"not json") == (None, None)
    assert tracing.usage_from_body(b"[1]") == (None, None)


async def test_off_by_default(proxy: ProxyClient) -> None:
    await proxy.app[CATALOG_KEY].refresh()  # no background fetch left running at teardown
    assert tracing.TRACER_KEY not in proxy.app
