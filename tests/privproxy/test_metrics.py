"""`/metrics`: Prometheus text, per-app registry, content-free labels, attestation facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from privproxy.ops import metrics
from privproxy.ops.metrics import METRICS_KEY
from tests.privproxy.lifecycle_fakes import (
    Client,
    ClientFactory,
    World,
    key_for,
    make_enclave,
    shorten_request_wait,
    started,
)


@pytest.fixture(autouse=True)
def _short_request_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    shorten_request_wait(monkeypatch)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} parsed with prometheus-client's own parser."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    return samples(await resp.text())


async def test_requests_and_latency_by_route_template(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    client = await started(World(tmp_path), aiohttp_client)
    for _ in range(3):
        assert (await client.get("/healthz")).status == 200
    await client.get("/v1/secret-prompt-text-here")  # unrouted: must not become a label
    got = await scrape(client)
    key = (
        "privproxy_http_requests_total",
        (("method", "GET"), ("route", "/healthz"), ("status", "200")),
    )
    assert got[key] == 3
    unmatched = (
        "privproxy_http_requests_total",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    )
    assert got[unmatched] == 1
    count = ("privproxy_http_request_duration_seconds_count", (("route", "/healthz"),))
    assert got[count] == 3
    text = await (await client.get("/metrics")).text()
    assert "secret-prompt-text-here" not in text


async def test_attestation_metrics_follow_the_provider(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    world = World(tmp_path)
    client = await started(world, aiohttp_client)
    got = await scrape(client)
    assert got[("privproxy_attestation_verified", ())] == 1
    assert got[("privproxy_attestation_state", (("state", "verified"),))] == 1
    assert got[("privproxy_attestation_state", (("state", "failed"),))] == 0
    assert got[("privproxy_attestation_age_seconds", ())] == 0
    success = (
        "privproxy_attestation_verifications_total",
        (("outcome", "success"), ("trigger", "startup")),
    )
    assert got[success] == 1
    world.verifier.enclave = make_enclave(key=key_for("k2"))
    await world.clock.advance_to_next()
    got = await scrape(client)
    assert got[("privproxy_attestation_key_rotations_total", ())] == 1
    assert got[("privproxy_attestation_age_seconds", ())] == 0
    await world.clock.advance(120)
    got = await scrape(client)
    assert got[("privproxy_attestation_age_seconds", ())] == pytest.approx(120)


async def test_hooks_and_per_app_isolation(tmp_path: Path) -> None:
    app_a, app_b = World(tmp_path / "a").app, World(tmp_path / "b").app
    metrics.observe_ttfb(app_a, 0.2)
    metrics.count_stream_event(app_a, "completed")
    metrics.count_stream_event(app_a, "user said something private")
    metrics.count_gateway_status(app_a, 402, encrypted=False)
    metrics.count_gateway_status(app_a, 200, encrypted=True)
    metrics.count_gateway_status(app_a, 1234, encrypted=False)
    a = samples(app_a[METRICS_KEY].render().decode())
    b = samples(app_b[METRICS_KEY].render().decode())
    assert a[("privproxy_upstream_ttfb_seconds_count", ())] == 1
    assert a[("privproxy_upstream_ttfb_seconds_bucket", (("le", "0.25"),))] == 1
    assert a[("privproxy_upstream_ttfb_seconds_bucket", (("le", "0.1"),))] == 0
    assert a[("privproxy_stream_events_total", (("event", "completed"),))] == 1
    assert a[("privproxy_stream_events_total", (("event", "other"),))] == 1
    assert a[("privproxy_gateway_responses_total", (("source", "gateway"), ("status", "402")))] == 1
    assert a[("privproxy_gateway_responses_total", (("source", "enclave"), ("status", "200")))] == 1
    invalid = ("privproxy_gateway_responses_total", (("source", "gateway"), ("status", "invalid")))
    assert a[invalid] == 1
    assert b.get(("privproxy_upstream_ttfb_seconds_count", ())) == 0
    # Hooks on an app without metrics are no-ops, not errors.
    metrics.observe_ttfb(web.Application(), 1.0)


async def test_guard_refusals_are_counted_too(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    # The metrics middleware sits in front of the guards, so refused requests show up.
    client = await aiohttp_client(World(tmp_path).app)
    resp = await client.get("/v1/verification", headers={"Host": "attacker.example"})
    assert resp.status >= 400
    got = await scrape(client)
    key = (
        "privproxy_http_requests_total",
        (("method", "GET"), ("route", "/v1/verification"), ("status", str(resp.status))),
    )
    assert got[key] == 1
