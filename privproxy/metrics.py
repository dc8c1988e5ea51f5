"""Prometheus metrics, content-free: counts, timings and attestation facts, never payloads.

Each app gets its own `CollectorRegistry` (not the process-global one), so tests and
several apps in one process stay isolated. Every label value comes from a fixed, small
set (route templates, methods, status codes, named events), never from request content.

Hooks for the request path are one-line calls that do nothing when metrics are absent::

    metrics.observe_ttfb(request.app, seconds)
    metrics.count_stream_event(request.app, "completed")
    metrics.count_gateway_status(request.app, 200, encrypted=True)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from privproxy.attestation_status import OUTCOMES, TRIGGERS, AttestationState, AttestationStatus

TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
METHODS = frozenset({"GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH"})
# Stream lifecycle events of a relayed answer (respond.py). Anything else counts as "other".
STREAM_EVENTS = frozenset(
    {
        "started",
        "completed",
        "client_disconnected",
        "upstream_error",
        "decrypt_error",
        "truncated",
        "idle_timeout",
        "key_config_retry",
    }
)


class Metrics:
    """The app's metrics; see the module docstring for the hook helpers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "privproxy_http_requests",
            "Local HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "privproxy_http_request_duration_seconds",
            "Local request duration until the response ended (streams included), by route.",
            ["route"],
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            "privproxy_upstream_ttfb_seconds",
            "Time from sending a sealed request to the gateway's response headers.",
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.stream_events = Counter(
            "privproxy_stream_events", "Relay stream events by kind.", ["event"], registry=r
        )
        self.gateway = Counter(
            "privproxy_gateway_responses",
            "Gateway answers by status; source=enclave when EHBP-encrypted, gateway otherwise.",
            ["status", "source"],
            registry=r,
        )
        self._provider: _ProviderCollector | None = None

    def watch_provider(self, provider: object) -> None:
        """Export the attestation facts of `provider` (read at scrape time)."""
        if self._provider is None:
            self._provider = _ProviderCollector(provider)
            self.registry.register(self._provider)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One finished local request (route is a template such as `/v1/chat/completions`)."""
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, _status_label(status)).inc()
        self.latency.labels(route).observe(max(0.0, seconds))

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


METRICS_KEY = web.AppKey("privproxy.metrics", Metrics)


def _status_label(status: int) -> str:
    return str(status) if 100 <= status <= 599 else "invalid"


def _get(app: Mapping[Any, Any]) -> Metrics | None:
    value = app.get(METRICS_KEY)
    return value if isinstance(value, Metrics) else None


def observe_ttfb(app: Mapping[Any, Any], seconds: float) -> None:
    """Hook: the gateway answered headers after `seconds`."""
    m = _get(app)
    if m is not None:
        m.ttfb.observe(max(0.0, seconds))


def count_stream_event(app: Mapping[Any, Any], event: str) -> None:
    """Hook: a relay stream event (one of `STREAM_EVENTS`; others count as `other`)."""
    m = _get(app)
    if m is not None:
        m.stream_events.labels(event if event in STREAM_EVENTS else "other").inc()


def count_gateway_status(app: Mapping[Any, Any], status: int, *, encrypted: bool) -> None:
    """Hook: the gateway answered `status` (encrypted = an EHBP response nonce was present)."""
    m = _get(app)
    if m is not None:
        m.gateway.labels(_status_label(status), "enclave" if encrypted else "gateway").inc()


def response_headers() -> dict[str, str]:
    """Headers for a `/metrics` answer."""
    return {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


class _ProviderCollector(Collector):
    """Attestation gauges and counters computed from the provider at each scrape."""

    def __init__(self, provider: object) -> None:
        self._provider = provider

    def collect(self) -> Iterator[Metric]:
        status_fn = getattr(self._provider, "status", None)
        status = status_fn() if callable(status_fn) else None
        verified = GaugeMetricFamily(
            "privproxy_attestation_verified",
            "1 when chat is served from a verified, fresh attestation.",
        )
        if not isinstance(status, AttestationStatus):
            verified.add_metric([], 0.0)  # unsafe static key or unknown provider
            yield verified
            return
        verified.add_metric([], 1.0 if status.serving else 0.0)
        yield verified
        state = GaugeMetricFamily(
            "privproxy_attestation_state", "1 for the current lifecycle state.", labels=["state"]
        )
        for value in AttestationState:
            state.add_metric([value.value], 1.0 if status.state is value else 0.0)
        yield state
        if status.age_seconds is not None:
            age = GaugeMetricFamily(
                "privproxy_attestation_age_seconds", "Seconds since the adopted verification."
            )
            age.add_metric([], status.age_seconds)
            yield age
        stats = getattr(self._provider, "stats", None)
        if stats is None:
            return
        runs = CounterMetricFamily(
            "privproxy_attestation_verifications",
            "Finished verification attempts by trigger and outcome.",
            labels=["trigger", "outcome"],
        )
        for trigger in TRIGGERS:
            for outcome in OUTCOMES:
                runs.add_metric([trigger, outcome], float(stats.verifications[(trigger, outcome)]))
        yield runs
        rotations = CounterMetricFamily(
            "privproxy_attestation_key_rotations", "Adopted verifications with a new HPKE key."
        )
        rotations.add_metric([], float(stats.key_rotations))
        yield rotations
        changes = CounterMetricFamily(
            "privproxy_attestation_measurement_changes",
            "Adopted verifications whose code measurement differs from the previous one.",
        )
        changes.add_metric([], float(stats.measurement_changes))
        yield changes


__all__ = [
    "METRICS_KEY",
    "STREAM_EVENTS",
    "Metrics",
    "count_gateway_status",
    "count_stream_event",
    "observe_ttfb",
    "response_headers",
]
