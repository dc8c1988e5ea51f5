"""Test doubles for the attestation lifecycle (no tests here).

* `ManualClock`: wall + monotonic time that moves only when a test calls `advance`; its
  `sleep` returns when the test moves time past the deadline, so hours run in milliseconds.
* `FakeVerifier`: a verifier double standing in for `attestation.Attestor` where the real
  verifier cannot run (scripted outcomes, a gate to hold a verification open, call counts).
* `make_enclave`: a `VerifiedEnclave` value with chosen key, measurement and domain.
* `World`: the real app around such a provider, for tests through HTTP (`started` gives a
  client once start-up verification settled); `shorten_request_wait` for their fixtures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from attestation.errors import AttestationError, Step
from attestation.models import Measurement, Platform, StepResult, VerifiedEnclave
from privproxy.enclave import attested as attestor_module
from privproxy.enclave.attested import AttestedProvider
from privproxy.enclave.audit import AuditEntry, AuditSink, audit_record
from privproxy.server.app import create_app
from privproxy.server.config import Settings

START = dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)
REPOSITORY = "tinfoilsh/confidential-model-router"
VERIFY_STEPS = (Step.PARSE, Step.HARDWARE, Step.PROVENANCE, Step.MEASUREMENT, Step.KEY_BINDING)

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


class ManualClock:
    """A clock the test drives; see the module docstring."""

    def __init__(self, start: dt.datetime = START) -> None:
        self._wall0 = start
        self._mono0 = 1000.0
        self._mono = self._mono0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> dt.datetime:
        return self._wall0 + dt.timedelta(seconds=self._mono - self._mono0)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._mono + seconds, fut)
        self._sleepers.append(entry)
        try:
            await fut
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def next_deadline(self) -> float | None:
        """Seconds until the earliest pending sleep ends (None when nobody sleeps)."""
        pending = [d for d, f in self._sleepers if not f.done()]
        return None if not pending else min(pending) - self._mono

    async def advance_to_next(self) -> float:
        """Let tasks settle, then advance to the earliest pending sleep; returns the step."""
        await settle()
        delay = self.next_deadline()
        assert delay is not None, "nothing is sleeping on this clock"
        await self.advance(delay)
        return delay

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline, in order."""
        target = self._mono + seconds
        while True:
            due = [d for d, f in self._sleepers if d <= target and not f.done()]
            if not due:
                break
            self._mono = max(self._mono, min(due))
            for deadline, fut in list(self._sleepers):
                if deadline <= self._mono and not fut.done():
                    fut.set_result(None)
            await settle()
        self._mono = target
        await settle()


async def settle(rounds: int = 30) -> None:
    """Let ready tasks run (and short worker-thread hops such as the audit write finish)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
    await asyncio.sleep(0.002)
    for _ in range(rounds):
        await asyncio.sleep(0)


def key_for(name: str) -> bytes:
    """A deterministic 32-byte stand-in public key."""
    return hashlib.sha256(b"hpke:" + name.encode()).digest()


def make_enclave(
    *,
    key: bytes | None = None,
    measurement: str = "aa" * 48,
    domain: str = "inference.tinfoil.sh",
    verified_at: dt.datetime = START,
) -> VerifiedEnclave:
    """A verified-enclave value (what the real verifier returns after every step passed)."""
    steps = tuple(StepResult(step=s, ok=True, detail=f"{s.value} ok") for s in VERIFY_STEPS)
    return VerifiedEnclave(
        domain=domain,
        platform=Platform.SEV_SNP,
        hardware_measurement=Measurement("sev-snp", (measurement,)),
        code_measurement=Measurement("snp-tdx-multiplatform/v1", (measurement,)),
        release_digest="sha256:" + hashlib.sha256(measurement.encode()).hexdigest(),
        repository=REPOSITORY,
        hpke_public_key=key if key is not None else key_for("k1"),
        tls_key_fingerprint=hashlib.sha256(domain.encode()).hexdigest(),
        verified_at=verified_at,
        tcb={"bootloader": 7, "tee": 0, "snp": 14, "microcode": 72},
        steps=steps,
    )


class FakeVerifier:
    """Verifier double: returns `enclave` (stamped with the clock) or raises `fail`."""

    def __init__(self, clock: ManualClock, enclave: VerifiedEnclave | None = None) -> None:
        self.clock = clock
        self.enclave = enclave if enclave is not None else make_enclave()
        self.fail: AttestationError | None = None
        self.gate: asyncio.Event | None = None
        self.fetches = 0
        self.verifies = 0
        self.api_bases: list[str] = []

    async def fetch_bundle(self, api_base: str) -> bytes:
        self.fetches += 1
        self.api_bases.append(api_base)
        if self.fail is not None and self.fail.step.value == "fetch":
            raise self.fail
        return b'{"fake": "bundle"}'

    async def verify(self, bundle: bytes) -> VerifiedEnclave:
        assert bundle == b'{"fake": "bundle"}'
        self.verifies += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return replace(self.enclave, verified_at=self.clock.now())


class MemoryAudit:
    """In-memory audit sink (no worker thread, so state changes are deterministic)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def append(self, verification: VerifiedEnclave, *, at: dt.datetime) -> AuditEntry:
        previous = self.records[-1]["code_measurement"] if self.records else None
        record = audit_record(verification, at=at, previous_measurement=previous)
        self.records.append(record)
        return AuditEntry(record, bool(record["measurement_changed"]), previous, written=True)


async def wait_idle(provider: AttestedProvider, timeout: float = 5.0) -> None:
    """Wait (real time) until no verification is in flight (e.g. a real audit write)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while provider.status().in_progress:
        assert loop.time() < deadline, "verification still in flight"
        await asyncio.sleep(0.005)
    await settle()


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with state and cache in `tmp_path` (never the home directory)."""
    values: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "cache_dir": tmp_path / "cache",
        "api_base": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(**values)


def make_provider(
    tmp_path: Path,
    clock: ManualClock,
    verifier: FakeVerifier,
    *,
    audit: AuditSink | None = None,
    **overrides: Any,
) -> AttestedProvider:
    """An `AttestedProvider` on the manual clock with a seeded jitter source.

    The audit sink defaults to `MemoryAudit`; pass an `AuditLog` to test the file.
    """
    return AttestedProvider(
        settings_for(tmp_path, **overrides),
        attestor=verifier,
        clock=clock,
        rng=random.Random(5),
        audit=audit if audit is not None else MemoryAudit(),
    )


class World:
    """An app whose provider runs on a manual clock with a verifier double."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.clock = ManualClock()
        self.verifier = FakeVerifier(self.clock)
        self.provider: AttestedProvider = make_provider(
            tmp_path, self.clock, self.verifier, **overrides
        )
        settings = settings_for(tmp_path, **overrides)
        self.app = create_app(settings, provider=self.provider)


async def started(world: World, aiohttp_client: ClientFactory) -> Client:
    """A test client for `world.app`, once the start-up verification has settled."""
    client = await aiohttp_client(world.app)
    await settle()
    return client


def shorten_request_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests wait 50 ms (not seconds) for a verification in flight; for autouse fixtures."""
    monkeypatch.setattr(attestor_module, "CURRENT_WAIT", 0.05)
