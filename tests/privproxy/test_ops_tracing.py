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


# The translated APIs: the same span shape, named client API, usage from the translator.

MESSAGES = {
    "model": "private/kimi-k3",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": CANARY}],
}
RESPONSES = {"model": "private/kimi-k3", "input": CANARY, "instructions": CANARY}


def _finish_chunk() -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def _usage_chunk(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {"choices": [], "usage": usage}


def _translated_root(
    exporter: InMemorySpanExporter, api: str, route: str, *, stream: bool
) -> dict[str, Any]:
    """Check the span tree of one translated request; return its root's attributes."""
    spans = exporter.get_finished_spans()
    named = _by_name(spans)
    assert len(spans) == 1 + len(tracing.PHASES)
    assert set(named) == {"chat private/kimi-k3", *tracing.PHASES}
    root = named["chat private/kimi-k3"]
    assert root.kind == SpanKind.SERVER and root.parent is None
    for phase in tracing.PHASES:
        child = named[phase]
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert root.start_time is not None and child.start_time is not None
        assert child.end_time is not None and root.end_time is not None
        assert root.start_time <= child.start_time <= child.end_time <= root.end_time
    attrs = dict(root.attributes or {})
    assert attrs["privproxy.api"] == api and attrs["http.route"] == route
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "private/kimi-k3"
    assert attrs["http.response.status_code"] == 200
    assert attrs["privproxy.stream"] is stream
    assert isinstance(attrs["privproxy.request_bytes"], int) and attrs["privproxy.request_bytes"]
    for span in spans:
        assert CANARY not in _everything(span) and ANSWER not in _everything(span)
    return attrs


async def test_chat_span_names_its_api(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion(ANSWER, "kimi-k3"))
    assert (await traced.post("/v1/chat/completions", json=CHAT)).status == 200
    root = _by_name(exporter.get_finished_spans())["chat private/kimi-k3"]
    assert dict(root.attributes or {})["privproxy.api"] == "chat_completions"


async def test_responses_span_non_stream(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion(ANSWER, "kimi-k3"))
    resp = await traced.post("/v1/responses", json=RESPONSES, headers={"X-Request-Id": "r-1"})
    assert resp.status == 200 and ANSWER in await resp.text()
    attrs = _translated_root(exporter, "responses", "/v1/responses", stream=False)
    assert attrs["gen_ai.usage.input_tokens"] == 3 and attrs["gen_ai.usage.output_tokens"] == 2
    assert attrs["privproxy.request_id"] == "r-1"


async def test_responses_span_stream_with_usage(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: sse_reply(
        [chunk(ANSWER, "kimi-k3"), _finish_chunk(), _usage_chunk(7, 3)]
    )
    resp = await traced.post("/v1/responses", json={**RESPONSES, "stream": True})
    assert resp.status == 200 and ANSWER in await resp.text()
    attrs = _translated_root(exporter, "responses", "/v1/responses", stream=True)
    assert attrs["gen_ai.usage.input_tokens"] == 7 and attrs["gen_ai.usage.output_tokens"] == 3


async def test_messages_span_non_stream(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion(ANSWER, "kimi-k3"))
    resp = await traced.post("/v1/messages", json=MESSAGES)
    assert resp.status == 200 and ANSWER in await resp.text()
    attrs = _translated_root(exporter, "messages", "/v1/messages", stream=False)
    assert attrs["gen_ai.usage.input_tokens"] == 3 and attrs["gen_ai.usage.output_tokens"] == 2


async def test_messages_span_stream_counts_cached_input(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: sse_reply(
        [chunk(ANSWER, "kimi-k3"), _finish_chunk(), _usage_chunk(9, 4, cached=5)]
    )
    resp = await traced.post("/v1/messages", json={**MESSAGES, "stream": True})
    text = await resp.text()
    assert resp.status == 200 and ANSWER in text
    assert '"cache_read_input_tokens":5' in text  # Anthropic splits the input...
    attrs = _translated_root(exporter, "messages", "/v1/messages", stream=True)
    # ...the trace counts all of it, as the chat route does.
    assert attrs["gen_ai.usage.input_tokens"] == 9 and attrs["gen_ai.usage.output_tokens"] == 4


async def test_translated_stream_without_usage_has_none(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    gateway.reply = lambda seen: sse_reply([chunk(ANSWER, "kimi-k3"), _finish_chunk()])
    resp = await traced.post("/v1/responses", json={**RESPONSES, "stream": True})
    assert resp.status == 200 and ANSWER in await resp.text()
    attrs = _translated_root(exporter, "responses", "/v1/responses", stream=True)
    assert "gen_ai.usage.input_tokens" not in attrs


async def test_translated_refusal_and_failure_traced(
    traced: ProxyClient, gateway: FakeGateway, exporter: InMemorySpanExporter
) -> None:
    refused = await traced.post("/v1/responses", json={**RESPONSES, "previous_response_id": "x"})
    assert refused.status == 400
    (root,) = exporter.get_finished_spans()  # refused before the model: no phases
    attrs = dict(root.attributes or {})
    assert root.name == "chat" and attrs["privproxy.api"] == "responses"
    assert attrs["http.response.status_code"] == 400
    exporter.clear()
    gateway.reply = lambda seen: _plain_502()
    failed = await traced.post("/v1/messages", json=MESSAGES)
    assert failed.status >= 500
    root = _by_name(exporter.get_finished_spans())["chat private/kimi-k3"]
    assert root.status.status_code == StatusCode.ERROR
    assert dict(root.attributes or {})["privproxy.api"] == "messages"
    for span in exporter.get_finished_spans():
        assert CANARY not in _everything(span)


async def test_translated_routes_untraced_when_off(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    await proxy.app[CATALOG_KEY].refresh()
    gateway.reply = lambda seen: json_reply(chat_completion(ANSWER, "kimi-k3"))
    resp = await proxy.post("/v1/messages", json=MESSAGES)
    assert resp.status == 200 and ANSWER in await resp.text()
    assert tracing.TRACER_KEY not in proxy.app
