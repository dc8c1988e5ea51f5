"""Optional OpenTelemetry traces of model requests: timings and metadata, never content.

Installed with the `otel` extra (`pip install 'privproxy[otel]'`) and switched on by the
standard environment variables: tracing is on when `OTEL_TRACES_EXPORTER` names an exporter
(`otlp`, `console`) or an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and `OTEL_SDK_DISABLED` is not `true`. Everything
else (service name, resource attributes, sampler, endpoint, headers, batch sizes) is read
by the OpenTelemetry SDK itself from its usual variables.

Off, it costs nothing: the SDK is never imported, the app holds no tracer and the chat
handler skips every tracing step after one `None` check. On, the handler records wall-clock
marks (`time.time_ns`) of its phases in the request's `RequestFacts`; when the request ends
`RequestTracer.emit` turns them into one server span per request with child spans
`privproxy.attestation_wait`, `privproxy.seal`, `privproxy.gateway_first_byte` and
`privproxy.relay`, and GenAI semantic-convention attributes (`gen_ai.operation.name`,
`gen_ai.request.model`, `gen_ai.usage.*`). Spans are exported by the SDK's batch processor
in its own thread (bounded queue), never on the event loop.

Message content is never recorded, whatever `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`
says: no attribute or event is built from a prompt or an answer. Token usage is read only
where it is cheap: from a non-streamed answer that arrived whole (its `usage` object; the
body is parsed in memory and only the two counts kept). Streamed chat answers carry no usage.

The translated APIs (Responses, Messages) wrap their handler in `traced`, which does the
same bookkeeping around it; the sealed chat library they call (`privproxy.api.sealed_chat`)
records the model and phases in the facts it finds under `TRACE_FACTS_KEY`, and the handler
hands over the usage object its translator already built (`record_usage`), stream or not:
the translated answer is never parsed again for it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from privproxy.errors import ProxyError
from privproxy.ops.access_facts import RequestFacts
from privproxy.ops.request_id import current_request_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_log = logging.getLogger("privproxy.tracing")

REQUEST_SPAN: Final = "chat"
PHASES: Final = (
    "privproxy.attestation_wait",
    "privproxy.seal",
    "privproxy.gateway_first_byte",
    "privproxy.relay",
)
USAGE_BODY_CAP: Final = 1024 * 1024
"""Answers larger than this are not parsed for token usage."""


class RequestTracer:
    """Turns the facts of finished chat requests into spans of `tracer_provider`."""

    def __init__(self, tracer_provider: TracerProvider) -> None:
        from privproxy import __version__

        self._provider = tracer_provider
        self._tracer = tracer_provider.get_tracer("privproxy", __version__)

    def emit(
        self,
        facts: RequestFacts,
        *,
        request_id: str | None,
        status: int,
        end_ns: int,
        api: str = "chat_completions",
        route: str = "/v1/chat/completions",
    ) -> None:
        """Record one finished request of client API `api` (its phases as child spans)."""
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        model = facts.model
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "ppq",
            "http.request.method": "POST",
            "http.route": route,
            "http.response.status_code": status,
            "privproxy.api": api,
        }
        if model is not None:
            attributes["gen_ai.request.model"] = model
        if request_id is not None:
            attributes["privproxy.request_id"] = request_id
        if facts.stream is not None:
            attributes["privproxy.stream"] = facts.stream
        if facts.request_bytes is not None:
            attributes["privproxy.request_bytes"] = facts.request_bytes
        if facts.input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = facts.input_tokens
        if facts.output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = facts.output_tokens
        name = f"{REQUEST_SPAN} {model}" if model is not None else REQUEST_SPAN
        span = self._tracer.start_span(
            name, kind=SpanKind.SERVER, start_time=facts.started_ns, attributes=attributes
        )
        parent = trace.set_span_in_context(span)
        for phase, start, end in facts.phases or ():
            self._tracer.start_span(phase, context=parent, start_time=start).end(end_time=end)
        if status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end_ns)

    def shutdown(self) -> None:
        """Flush and stop the exporter (blocking: call off the event loop)."""
        self._provider.shutdown()


TRACE_FACTS_KEY: Final = web.RequestKey("privproxy_trace_facts", RequestFacts)
"""The facts a `traced` handler's request is collecting (present only with tracing on)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def traced(api: str, route: str) -> Callable[[Handler], Handler]:
    """Wrap a translated-API handler: with a tracer on the app, collect its request's facts
    under `TRACE_FACTS_KEY`, time the relay (gateway's first byte → handler done) and emit
    the span when it ends; without one, call the handler after a single `None` check."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            tracer = request.app.get(TRACER_KEY)
            if tracer is None:
                return await handler(request)
            facts = RequestFacts(started_ns=time.time_ns(), phases=[])
            request[TRACE_FACTS_KEY] = facts
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except ProxyError as exc:
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = 499  # the client went away
                raise
            finally:
                end = time.time_ns()
                _add_relay(facts, end)
                tracer.emit(
                    facts,
                    request_id=current_request_id(),
                    status=status,
                    end_ns=end,
                    api=api,
                    route=route,
                )

        return run

    return wrap


def _add_relay(facts: RequestFacts, end: int) -> None:
    """The relay phase of a translated answer: from the gateway's (last) first byte to the
    end of the handler (decrypting, translating and writing the answer)."""
    phases = facts.phases
    if phases and phases[-1][0] == "privproxy.gateway_first_byte":
        phases.append(("privproxy.relay", phases[-1][2], end))


def record_usage(request: web.Request, usage: object) -> None:
    """Keep the token counts of a translated answer's `usage` object (Responses or Messages
    shape: `input_tokens`, `output_tokens`, Anthropic's cache counts added to the input) on
    the trace, when the request is traced."""
    facts = request.get(TRACE_FACTS_KEY)
    if facts is None or not isinstance(usage, Mapping):
        return
    inputs = _count(usage.get("input_tokens"))
    if inputs is not None:
        for name in ("cache_read_input_tokens", "cache_creation_input_tokens"):
            inputs += _count(usage.get(name)) or 0
    facts.input_tokens, facts.output_tokens = inputs, _count(usage.get("output_tokens"))


def usage_from_body(body: bytes) -> tuple[int | None, int | None]:
    """(prompt, completion) token counts of a whole chat.completion answer, when it has them."""
    if len(body) > USAGE_BODY_CAP:
        return None, None
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    usage = obj.get("usage") if isinstance(obj, Mapping) else None
    if not isinstance(usage, Mapping):
        return None, None
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53:
        return value
    return None


def enabled_by(environ: Mapping[str, str]) -> bool:
    """True when the standard variables ask for traces (see module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def from_environment(environ: Mapping[str, str]) -> RequestTracer | None:
    """A tracer exporting as the environment says, or None (off, or the extra not installed)."""
    if not enabled_by(environ):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    except ImportError:
        _log.warning(
            "OTEL_* variables ask for traces but OpenTelemetry is not installed "
            "(pip install 'privproxy[otel]'); tracing stays off"
        )
        return None
    exporter: SpanExporter
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if names.split(",")[0].strip() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            _log.warning("The OTLP/HTTP exporter is not installed; tracing stays off")
            return None
        exporter = OTLPSpanExporter()
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "privproxy"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _log.info("OpenTelemetry tracing on (exporter %s)", type(exporter).__name__)
    return RequestTracer(provider)


TRACER_KEY: Final = web.AppKey("privproxy.tracer", RequestTracer)


__all__ = [
    "PHASES",
    "REQUEST_SPAN",
    "TRACER_KEY",
    "TRACE_FACTS_KEY",
    "RequestTracer",
    "enabled_by",
    "from_environment",
    "record_usage",
    "traced",
    "usage_from_body",
]
