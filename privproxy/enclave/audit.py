"""Append-only audit log of accepted verifications (JSON lines in the state directory).

Each verification the proxy accepts appends one line: when, which enclave, which release
digest, code and hardware measurement fingerprints, HPKE and TLS key fingerprints. A line
whose code measurement differs from the previous line's carries `"measurement_changed":
true` and the previous fingerprint, so a user can see, even across restarts, when the
code they trust changed. Only public facts go in: no keys' private halves (we never have
them), no prompts, no tokens.

The directory is created 0700 and the file 0600 on first write; the file is opened with
`O_APPEND | O_NOFOLLOW`, so a symlink planted at its path is refused. A failed write is
logged and does not stop the proxy: the log is a record, not a gate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from attestation.models import VerifiedEnclave
from privproxy.ops.request_id import current_request_id

log = logging.getLogger("privproxy.audit")

AUDIT_FILE_NAME = "attestation-audit.jsonl"
TAIL_BYTES = 64 * 1024  # enough for the last line; bounds the read of an old, large log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What `AuditLog.append` recorded (and whether it reached the disk)."""

    record: dict[str, Any]
    measurement_changed: bool
    previous_measurement: str | None
    written: bool


class AuditSink(Protocol):
    """Where accepted verifications are recorded (`AuditLog`, or a test double)."""

    async def append(self, verification: VerifiedEnclave, *, at: dt.datetime) -> AuditEntry:
        """Record one accepted verification; must not raise for I/O problems."""


class AuditLog:
    """JSON-lines audit file; appends are serialised and run off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._last_measurement: str | None = None
        self._loaded = False

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> AuditLog:
        """The audit log at `<state_dir>/attestation-audit.jsonl`."""
        return cls(state_dir / AUDIT_FILE_NAME)

    async def append(self, verification: VerifiedEnclave, *, at: dt.datetime) -> AuditEntry:
        """Record one accepted verification; never raises for I/O problems."""
        async with self._lock:
            if not self._loaded:
                self._last_measurement = await asyncio.to_thread(self._read_last_measurement)
                self._loaded = True
            previous = self._last_measurement
            record = audit_record(verification, at=at, previous_measurement=previous)
            changed = bool(record["measurement_changed"])
            try:
                await asyncio.to_thread(self._write_line, record)
                written = True
            except OSError as exc:
                log.error("audit log %s: write failed: %s", self.path, exc.strerror or exc)
                written = False
            self._last_measurement = str(record["code_measurement"])
            return AuditEntry(record, changed, previous, written)

    def read_entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first (for tests and tooling; blocking)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _read_last_measurement(self) -> str | None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - TAIL_BYTES))
                tail = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("audit log %s: cannot read: %s", self.path, exc.strerror or exc)
            return None
        for raw in reversed(tail.splitlines()):
            try:
                value = json.loads(raw).get("code_measurement")
            except (ValueError, AttributeError):
                continue  # a torn or foreign line: look further back
            if isinstance(value, str):
                return value
        return None

    def _write_line(self, record: dict[str, Any]) -> None:
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            line = json.dumps(record, separators=(",", ":"), ensure_ascii=True) + "\n"
            os.write(fd, line.encode("ascii"))
        finally:
            os.close(fd)


def audit_record(
    verification: VerifiedEnclave, *, at: dt.datetime, previous_measurement: str | None
) -> dict[str, Any]:
    """The JSON object logged for one accepted verification (public facts only)."""
    code_fp = verification.code_measurement.fingerprint()
    changed = previous_measurement is not None and previous_measurement != code_fp
    record: dict[str, Any] = {
        "time": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "domain": verification.domain,
        "platform": verification.platform.value,
        "repository": verification.repository,
        "release_digest": verification.release_digest,
        "code_measurement": code_fp,
        "code_measurement_type": verification.code_measurement.type,
        "hardware_measurement": verification.hardware_measurement.fingerprint(),
        "hpke_key_fingerprint": verification.hpke_key_fingerprint,
        "tls_key_fingerprint": verification.tls_key_fingerprint,
        "measurement_changed": changed,
        "previous_code_measurement": previous_measurement if changed else None,
        "attestation_format": verification.attestation_format,
        "freshness_expires_at": None
        if verification.freshness_expires_at is None
        else verification.freshness_expires_at.isoformat().replace("+00:00", "Z"),
    }
    # A verification started while handling a request (a 422 key rotation, an expired key)
    # names that request, to correlate with the client's and the proxy's logs.
    rid = current_request_id()
    if rid is not None:
        record["request_id"] = rid
    return record


__all__ = ["AUDIT_FILE_NAME", "AuditEntry", "AuditLog", "AuditSink", "audit_record"]
