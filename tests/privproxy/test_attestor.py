"""`AttestedProvider` state machine on a manual clock with a verifier double.

The double stands in for `attestation.Attestor` only to script outcomes (fetch failures,
rejections, key rotations, slow verifications); the end-to-end tests through the real
verifier live in `test_lifecycle_real.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from attestation.errors import Code, FetchError, HardwareError, ProvenanceError
from privproxy.enclave import attested as attestor_module
from privproxy.enclave.attested import AttestedProvider
from privproxy.enclave.status import AttestationState
from privproxy.errors import AttestationUnavailableError
from tests.privproxy.lifecycle_fakes import (
    FakeVerifier,
    ManualClock,
    key_for,
    make_enclave,
    make_provider,
    settle,
)


@pytest.fixture(autouse=True)
def _short_request_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # A request waits for a verification in flight in real time; keep tests fast.
    monkeypatch.setattr(attestor_module, "CURRENT_WAIT", 0.05)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def verifier(clock: ManualClock) -> FakeVerifier:
    return FakeVerifier(clock)


@pytest.fixture
async def provider(
    tmp_path: Path, clock: ManualClock, verifier: FakeVerifier
) -> AsyncIterator[AttestedProvider]:
    p = make_provider(tmp_path, clock, verifier)
    yield p
    await p.close()


def fetch_down() -> FetchError:
    return FetchError(Code.FETCH_FAILED, "connection refused")


async def test_start_returns_at_once_then_verifies_in_background(
    provider: AttestedProvider, verifier: FakeVerifier
) -> None:
    verifier.gate = asyncio.Event()
    await provider.start()
    await settle()
    assert provider.state() is AttestationState.UNVERIFIED
    assert provider.status().in_progress
    with pytest.raises(AttestationUnavailableError, match="not verified yet"):
        await provider.current()
    verifier.gate.set()
    await settle()
    assert provider.state() is AttestationState.VERIFIED
    target = await provider.current()
    assert target.hpke_public_key == key_for("k1")
    assert target.generation == 1
    assert target.verification is not None
    assert provider.health()["attestation"] is True


async def test_failures_retry_with_bounded_jittered_backoff(
    provider: AttestedProvider, verifier: FakeVerifier, clock: ManualClock
) -> None:
    verifier.fail = fetch_down()
    await provider.start()
    await settle()
    assert provider.state() is AttestationState.FAILED
    with pytest.raises(AttestationUnavailableError, match="step 'fetch' \\(FETCH_FAILED\\)"):
        await provider.current()
    delays = []
    for _ in range(12):
        delay = clock.next_deadline()
        assert delay is not None
        delays.append(delay)
        await clock.advance(delay)
    # Equal jitter: each wait lies in [d/2, d] for d = 1, 2, 4, ... capped at 300 s.
    for n, delay in enumerate(delays):
        nominal = min(300.0, 2.0**n)
        assert nominal / 2 <= delay <= nominal
    assert max(delays) <= 300.0
    assert verifier.fetches == 13
    verifier.fail = None
    await clock.advance_to_next()
    assert provider.state() is AttestationState.VERIFIED
    assert provider.stats.verifications[("retry", "fetch_failed")] == 12
    assert provider.stats.verifications[("retry", "success")] == 1


async def test_periodic_reattestation_is_jittered_and_bumps_generation(
    provider: AttestedProvider, verifier: FakeVerifier, clock: ManualClock
) -> None:
    await provider.start()
    await settle()
    first = await provider.current()
    delay = clock.next_deadline()
    assert delay is not None
    assert 3600 * 0.9 <= delay <= 3600 * 1.1
    assert delay != 3600  # jittered
    await clock.advance(delay)
    second = await provider.current()
    assert verifier.verifies == 2
    assert second.generation == first.generation + 1
    assert provider.stats.verifications[("periodic", "success")] == 1
    assert provider.stats.key_rotations == 0


async def test_fetch_failure_keeps_fresh_key_until_expiry_then_503(
    tmp_path: Path, clock: ManualClock, verifier: FakeVerifier
) -> None:
    provider = make_provider(
        tmp_path, clock, verifier, reattest_interval=3600, attestation_max_age=5000
    )
    await provider.start()
    await settle()
    verifier.fail = fetch_down()
    periodic = clock.next_deadline() or 0
    await clock.advance(periodic)
    assert verifier.fetches == 2
    assert provider.state() is AttestationState.VERIFIED  # still fresh: key kept
    assert (await provider.current()).generation == 1
    assert provider.status().last_error is not None
    await clock.advance(5000 - periodic)  # retries keep failing until verified_at + max age
    assert verifier.fetches > 3
    assert provider.state() is AttestationState.EXPIRED
    with pytest.raises(AttestationUnavailableError, match="expired") as err:
        await provider.current()
    assert "step 'fetch'" in err.value.message
    assert provider.health()["attestation"] is False
    verifier.fail = None
    await clock.advance_to_next()
    assert provider.state() is AttestationState.VERIFIED
    assert (await provider.current()).generation == 2
    await provider.close()


async def test_requests_after_expiry_trigger_at_most_one_fetch(
    tmp_path: Path, clock: ManualClock, verifier: FakeVerifier
) -> None:
    provider = make_provider(
        tmp_path, clock, verifier, reattest_interval=3600, attestation_max_age=60
    )
    await provider.start()
    await settle()
    verifier.fail = fetch_down()
    clock_step = clock.next_deadline()
    assert clock_step == pytest.approx(60)
    await clock.advance(61)
    assert provider.state() is AttestationState.EXPIRED
    fetches = verifier.fetches
    burst = await asyncio.gather(*(provider.current() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, AttestationUnavailableError) for r in burst)
    for _ in range(10):
        with pytest.raises(AttestationUnavailableError):
            await provider.current()
    assert verifier.fetches - fetches <= 1  # retries stay with the loop's backoff
    assert provider.stats.verifications[("expired", "fetch_failed")] <= 1
    await provider.close()


async def test_expiry_with_a_quiet_loop_is_detected_by_the_request(
    tmp_path: Path, clock: ManualClock, verifier: FakeVerifier
) -> None:
    # max age shorter than the interval: the loop wakes at expiry on its own.
    provider = make_provider(
        tmp_path, clock, verifier, reattest_interval=3600, attestation_max_age=60
    )
    await provider.start()
    await settle()
    deadline = clock.next_deadline()
    assert deadline is not None
    assert deadline == pytest.approx(60)
    verifier.gate = asyncio.Event()  # the re-verification hangs
    await clock.advance(60)
    assert provider.state() is AttestationState.EXPIRED
    with pytest.raises(AttestationUnavailableError, match="expired"):
        await provider.current()
    verifier.gate.set()
    await settle()
    assert (await provider.current()).generation == 2
    await provider.close()


async def test_rejection_drops_the_key_at_once(
    provider: AttestedProvider, verifier: FakeVerifier, clock: ManualClock
) -> None:
    await provider.start()
    await settle()
    assert (await provider.current()).generation == 1
    verifier.fail = HardwareError(Code.REPORT_SIGNATURE_INVALID, "bad signature")
    await clock.advance_to_next()
    assert provider.state() is AttestationState.FAILED
    with pytest.raises(AttestationUnavailableError) as err:
        await provider.current()
    assert "step 'hardware' (REPORT_SIGNATURE_INVALID)" in err.value.message
    assert err.value.status == 503
    assert provider.health()["attestation"] is False
    assert provider.stats.verifications[("periodic", "rejected")] == 1


async def test_unexpected_verifier_exception_fails_closed(
    provider: AttestedProvider, verifier: FakeVerifier, clock: ManualClock
) -> None:
    await provider.start()
    await settle()

    async def broken(bundle: bytes) -> object:
        raise RuntimeError("secret-looking library text")

    verifier.verify = broken  # type: ignore[assignment,method-assign]
    await clock.advance_to_next()
    assert provider.state() is AttestationState.FAILED
    err = provider.status().last_error
    assert err is not None
    assert err.code == "INTERNAL_ERROR"
    assert "secret-looking" not in err.message
    assert provider.stats.verifications[("periodic", "error")] == 1


async def test_concurrent_triggers_run_one_verification(
    provider: AttestedProvider, verifier: FakeVerifier
) -> None:
    await provider.start()
    await settle()
    stale = await provider.current()
    verifier.enclave = make_enclave(key=key_for("k2"))
    verifier.gate = asyncio.Event()
    waiters = [asyncio.ensure_future(provider.refresh(stale)) for _ in range(20)]
    await settle()
    assert provider.state() is AttestationState.REFRESHING
    assert (await provider.current()) is stale  # still fresh: served while refreshing
    verifier.gate.set()
    results = await asyncio.gather(*waiters)
    assert verifier.verifies == 2  # startup + exactly one shared re-verification
    assert {r.generation for r in results} == {2}
    assert all(r.hpke_public_key == key_for("k2") for r in results)
    assert stale.hpke_public_key == key_for("k1")  # in-flight users keep their key
    assert provider.stats.key_rotations == 1


async def test_refresh_returns_a_newer_generation_without_reverifying(
    provider: AttestedProvider, verifier: FakeVerifier, clock: ManualClock
) -> None:
    await provider.start()
    await settle()
    stale = await provider.current()
    verifier.enclave = make_enclave(key=key_for("k2"))
    await clock.advance_to_next()
    count = verifier.verifies
    fresh = await provider.refresh(stale)
    assert verifier.verifies == count
    assert fresh.generation == stale.generation + 1
    assert fresh.hpke_public_key == key_for("k2")


async def test_refresh_failure_names_the_step(
    provider: AttestedProvider, verifier: FakeVerifier
) -> None:
    await provider.start()
    await settle()
    stale = await provider.current()
    verifier.fail = ProvenanceError(Code.SUBJECT_DIGEST_MISMATCH, "digest differs")
    with pytest.raises(AttestationUnavailableError, match="step 'provenance'"):
        await provider.refresh(stale)
    assert provider.state() is AttestationState.FAILED
    assert provider.stats.verifications[("key_config", "rejected")] == 1


async def test_rotation_and_measurement_change_are_logged_with_fingerprints(
    provider: AttestedProvider, verifier: FakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="privproxy.attestation")
    await provider.start()
    await settle()
    old = make_enclave()
    stale = await provider.current()
    verifier.enclave = make_enclave(key=key_for("k2"), measurement="bb" * 48)
    await provider.refresh(stale)
    new = verifier.enclave
    lines = [r.getMessage() for r in caplog.records if r.name == "privproxy.attestation"]
    assert len(lines) == 2  # one line per outcome
    assert lines[0].startswith("Attestation verified — enclave: inference.tinfoil.sh")
    rotation = lines[1]
    assert f"HPKE key rotated {old.hpke_key_fingerprint[:16]}... -> " in rotation
    assert new.hpke_key_fingerprint[:16] in rotation
    assert "CODE MEASUREMENT CHANGED " + "aa" * 8 + "... -> " + "bb" * 8 in rotation
    change = provider.status().measurement_change
    assert change is not None
    assert (change.old, change.new) == ("aa" * 48, "bb" * 48)
    # Never the key itself, only fingerprints.
    assert key_for("k2").hex() not in caplog.text
    assert key_for("k1").hex() not in caplog.text


async def test_failure_log_line_names_step_and_retry(
    provider: AttestedProvider, verifier: FakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="privproxy.attestation")
    verifier.fail = fetch_down()
    await provider.start()
    await settle()
    (line,) = [r for r in caplog.records if r.name == "privproxy.attestation"]
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    assert "attestation failed at step 'fetch' (FETCH_FAILED): connection refused" in text
    assert "retrying in" in text


async def test_close_stops_background_work(
    provider: AttestedProvider, verifier: FakeVerifier, clock: ManualClock
) -> None:
    await provider.start()
    await settle()
    await provider.close()
    await clock.advance(10 * 3600)
    assert verifier.verifies == 1
