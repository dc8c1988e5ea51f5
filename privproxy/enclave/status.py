"""Value types describing the attestation lifecycle: state, last error, snapshot, counters.

`privproxy.enclave.attested.AttestedProvider` produces them; the status routes, the status page,
`/health` and the metrics collector only read them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from attestation.models import VerifiedEnclave
from privproxy.enclave.provider import EnclaveTarget


class AttestationState(StrEnum):
    """Lifecycle state of the enclave target. Chat is served only in `VERIFIED`/`REFRESHING`."""

    UNVERIFIED = "unverified"  # nothing verified yet (first attempt pending or running)
    VERIFIED = "verified"  # a verified key, younger than the maximum age
    REFRESHING = "refreshing"  # verified and fresh; a re-verification is running
    EXPIRED = "expired"  # the last verification is older than the maximum age
    FAILED = "failed"  # the last attempt failed and no fresh verified key is kept

    @property
    def serving(self) -> bool:
        """True when chat requests may be sealed to the current key."""
        return self in (AttestationState.VERIFIED, AttestationState.REFRESHING)


@dataclass(frozen=True, slots=True)
class LastError:
    """The most recent failed attempt: pipeline step, stable code, human message."""

    step: str
    code: str
    message: str
    at: dt.datetime

    def describe(self) -> str:
        """One line naming the failing step (used in 503 messages)."""
        return f"attestation failed at step '{self.step}' ({self.code}): {self.message}"


@dataclass(frozen=True, slots=True)
class MeasurementChange:
    """The code measurement differs from the previously accepted one (fingerprints)."""

    at: dt.datetime
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class AttestationStatus:
    """Immutable snapshot of the provider, for display and readiness."""

    state: AttestationState
    target: EnclaveTarget | None
    verification: VerifiedEnclave | None
    verified_at: dt.datetime | None
    expires_at: dt.datetime | None
    last_check_at: dt.datetime | None
    next_check_at: dt.datetime | None
    last_error: LastError | None
    in_progress: bool
    measurement_change: MeasurementChange | None
    age_seconds: float | None

    @property
    def serving(self) -> bool:
        """True when chat is served now (verified and fresh)."""
        return self.state.serving


OUTCOMES = ("success", "rejected", "fetch_failed", "error")
TRIGGERS = ("startup", "retry", "periodic", "key_config", "expired")


@dataclass
class ProviderStats:
    """Counters the metrics collector reads at scrape time (content-free)."""

    verifications: Counter[tuple[str, str]] = field(default_factory=Counter)  # (trigger, outcome)
    key_rotations: int = 0
    measurement_changes: int = 0

    def count(self, trigger: str, outcome: str) -> None:
        """Record one finished attempt."""
        self.verifications[(trigger, outcome)] += 1

    @property
    def attempts(self) -> int:
        """Finished attempts of any outcome."""
        return sum(self.verifications.values())


__all__ = [
    "OUTCOMES",
    "TRIGGERS",
    "AttestationState",
    "AttestationStatus",
    "LastError",
    "MeasurementChange",
    "ProviderStats",
]
