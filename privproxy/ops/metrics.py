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

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from privproxy.enclave.status import OUTCOMES, TRIGGERS, AttestationState, AttestationStatus

_KEY_CACHE_SIZE = 512  # bound on cached label keys (routes x methods x statuses)
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


_BUCKET_LABELS = (*map(floatToGoString, TIME_BUCKETS), "+Inf")


class _Histogram:
    """A plain-Python histogram: bucket counts (non-cumulative) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(TIME_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # Prometheus buckets are `le` (inclusive): the first bound >= the value.
        self.counts[bisect_left(TIME_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip(_BUCKET_LABELS, self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class Metrics:
    """The app's metrics; see the module docstring for the hook helpers.

    The request-path counters are plain dictionaries of ints, exported at scrape time by a
    collector: prometheus-client's `labels()` + `inc()` cost ~5 Python calls and a lock each,
    about 20 us per proxied request for the 6 updates it makes (docs/performance.md). The
    event loop is single-threaded and scrapes run on it, so no lock is needed.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # (route, method label, status label) → count; route → latency histogram.
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._ttfb = _Histogram()
        self._events: dict[str, int] = dict.fromkeys(sorted(STREAM_EVENTS), 0)
        self._gateway: dict[tuple[str, str], int] = {}
        # Raw (route, method, status) → the label key above, so the labels are computed once.
        self._request_keys: dict[tuple[str, str, int], tuple[str, str, str]] = {}
        self.registry.register(_RequestCollector(self))
        self._provider: _ProviderCollector | None = None

    def watch_provider(self, provider: object) -> None:
        """Export the attestation facts of `provider` (read at scrape time)."""
        if self._provider is None:
            self._provider = _ProviderCollector(provider)
            self.registry.register(self._provider)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One finished local request (route is a template such as `/v1/chat/completions`)."""
        raw = (route, method, status)
        key = self._request_keys.get(raw)
        if key is None:
            key = (route, method if method in METHODS else "other", _status_label(status))
            if len(self._request_keys) < _KEY_CACHE_SIZE:  # methods are caller-chosen
                self._request_keys[raw] = key
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = _Histogram()
        histogram.observe(max(0.0, seconds))

    def observe_ttfb(self, seconds: float) -> None:
        """The gateway answered headers after `seconds` (see `observe_ttfb`)."""
        self._ttfb.observe(max(0.0, seconds))

    def count_event(self, event: str) -> None:
        """One relay stream event (see `count_stream_event`)."""
        events = self._events
        if event not in events:
            event = "other"
        events[event] = events.get(event, 0) + 1

    def count_gateway(self, status: int, encrypted: bool) -> None:
        """One gateway answer (see `count_gateway_status`)."""
        key = (_status_label(status), "enclave" if encrypted else "gateway")
        self._gateway[key] = self._gateway.get(key, 0) + 1

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class _RequestCollector(Collector):
    """Exports the request-path counters of a `Metrics` at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        requests = CounterMetricFamily(
            "privproxy_http_requests",
            "Local HTTP requests by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for labels, count in sorted(m._requests.items()):
            requests.add_metric(list(labels), float(count))
        yield requests
        latency = HistogramMetricFamily(
            "privproxy_http_request_duration_seconds",
            "Local request duration until the response ended (streams included), by route.",
            labels=["route"],
        )
        for route, histogram in sorted(m._latency.items()):
            latency.add_metric([route], histogram.buckets(), histogram.total)
        yield latency
        ttfb = HistogramMetricFamily(
            "privproxy_upstream_ttfb_seconds",
            "Time from sending a sealed request to the gateway's response headers.",
        )
        ttfb.add_metric([], m._ttfb.buckets(), m._ttfb.total)
        yield ttfb
        events = CounterMetricFamily(
            "privproxy_stream_events", "Relay stream events by kind.", labels=["event"]
        )
        for event, count in sorted(m._events.items()):
            events.add_metric([event], float(count))
        yield events
        gateway = CounterMetricFamily(
            "privproxy_gateway_responses",
            "Gateway answers by status; source=enclave when EHBP-encrypted, gateway otherwise.",
            labels=["status", "source"],
        )
        for pair, count in sorted(m._gateway.items()):
            gateway.add_metric(list(pair), float(count))
        yield gateway


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
        m.observe_ttfb(seconds)


def count_stream_event(app: Mapping[Any, Any], event: str) -> None:
    """Hook: a relay stream event (one of `STREAM_EVENTS`; others count as `other`)."""
    m = _get(app)
    if m is not None:
        m.count_event(event)


def count_gateway_status(app: Mapping[Any, Any], status: int, *, encrypted: bool) -> None:
    """Hook: the gateway answered `status` (encrypted = an EHBP response nonce was present)."""
    m = _get(app)
    if m is not None:
        m.count_gateway(status, encrypted)


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
