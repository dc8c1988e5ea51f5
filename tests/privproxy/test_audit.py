"""Audit log: one JSON line per accepted verification, private file modes, change flags."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from privproxy.enclave.audit import AUDIT_FILE_NAME, AuditLog
from privproxy.enclave.status import AttestationState
from tests.privproxy.lifecycle_fakes import (
    START,
    FakeVerifier,
    ManualClock,
    key_for,
    make_enclave,
    make_provider,
    settle,
    wait_idle,
)


async def test_first_write_creates_private_dir_and_file(tmp_path: Path) -> None:
    log = AuditLog.in_state_dir(tmp_path / "state" / "nested")
    entry = await log.append(make_enclave(), at=START)
    assert entry.written
    assert not entry.measurement_changed
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    (line,) = log.read_entries()
    v = make_enclave()
    assert line == {
        "time": "2026-11-22T00:00:00Z",
        "domain": "inference.tinfoil.sh",
        "platform": "sev-snp",
        "repository": "tinfoilsh/confidential-model-router",
        "release_digest": v.release_digest,
        "code_measurement": "aa" * 48,
        "code_measurement_type": "snp-tdx-multiplatform/v1",
        "hardware_measurement": "aa" * 48,
        "hpke_key_fingerprint": v.hpke_key_fingerprint,
        "tls_key_fingerprint": v.tls_key_fingerprint,
        "measurement_changed": False,
        "previous_code_measurement": None,
        "attestation_format": "v2",
        "freshness_expires_at": None,
    }
    assert key_for("k1").hex() not in log.path.read_text()  # fingerprints only


async def test_measurement_change_is_flagged_across_restarts(tmp_path: Path) -> None:
    first = AuditLog.in_state_dir(tmp_path)
    await first.append(make_enclave(), at=START)
    await first.append(make_enclave(key=key_for("k2")), at=START)  # key only: no flag
    restarted = AuditLog.in_state_dir(tmp_path)  # a new process reads the file's tail
    entry = await restarted.append(make_enclave(measurement="bb" * 48), at=START)
    assert entry.measurement_changed
    assert entry.previous_measurement == "aa" * 48
    lines = restarted.read_entries()
    assert [x["measurement_changed"] for x in lines] == [False, False, True]
    assert lines[2]["previous_code_measurement"] == "aa" * 48


async def test_existing_file_is_appended_not_truncated(tmp_path: Path) -> None:
    path = tmp_path / AUDIT_FILE_NAME
    path.write_text('{"code_measurement": "' + "cc" * 48 + '"}\nnot json\n')
    entry = await AuditLog(path).append(make_enclave(), at=START)
    assert entry.previous_measurement == "cc" * 48  # a torn last line is skipped
    assert path.read_text().startswith('{"code_measurement"')
    assert len(path.read_text().splitlines()) == 3


async def test_symlink_at_the_log_path_is_refused_without_crashing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    path = tmp_path / AUDIT_FILE_NAME
    os.symlink(victim, path)
    entry = await AuditLog(path).append(make_enclave(), at=START)
    assert not entry.written
    assert victim.read_text() == "keep\n"
    assert any("write failed" in r.getMessage() for r in caplog.records)
    assert caplog.records[-1].levelno == logging.ERROR


async def test_provider_appends_one_line_per_accepted_verification(tmp_path: Path) -> None:
    clock = ManualClock()
    verifier = FakeVerifier(clock)
    log = AuditLog.in_state_dir(tmp_path / "state")
    provider = make_provider(tmp_path, clock, verifier, audit=log)
    await provider.start()
    await wait_idle(provider)
    for measurement in ("aa" * 48, "dd" * 48):
        verifier.enclave = make_enclave(measurement=measurement)
        await clock.advance_to_next()
        await wait_idle(provider)
    assert provider.state() is AttestationState.VERIFIED
    await provider.close()
    lines = log.read_entries()
    assert [x["code_measurement"] for x in lines] == ["aa" * 48, "aa" * 48, "dd" * 48]
    assert [x["measurement_changed"] for x in lines] == [False, False, True]
    change = provider.status().measurement_change
    assert change is not None
    assert change.new == "dd" * 48


async def test_provider_flags_a_change_found_only_in_the_audit_log(tmp_path: Path) -> None:
    # The previous run accepted measurement aa...; this run starts with bb...
    await AuditLog.in_state_dir(tmp_path / "state").append(make_enclave(), at=START)
    clock = ManualClock()
    verifier = FakeVerifier(clock, make_enclave(measurement="bb" * 48))
    provider = make_provider(
        tmp_path, clock, verifier, audit=AuditLog.in_state_dir(tmp_path / "state")
    )
    await provider.start()
    await settle()
    await wait_idle(provider)
    change = provider.status().measurement_change
    assert change is not None
    assert (change.old, change.new) == ("aa" * 48, "bb" * 48)
    assert provider.stats.measurement_changes == 1
    await provider.close()


async def test_verification_during_a_request_names_it(tmp_path: Path) -> None:
    from privproxy.ops.request_id import REQUEST_ID

    log = AuditLog.in_state_dir(tmp_path / "state")
    await log.append(make_enclave(), at=START)  # outside any request: no id
    token = REQUEST_ID.set("req-rotation-1")
    try:
        await log.append(make_enclave(), at=START)
    finally:
        REQUEST_ID.reset(token)
    first, second = log.read_entries()
    assert "request_id" not in first
    assert second["request_id"] == "req-rotation-1"
