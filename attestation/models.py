"""Frozen value types shared by every stage of the `attestation` pipeline.

These are results, not wire formats: nothing here parses bytes or checks signatures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from attestation.errors import Step

# Predicate / format URIs (docs/attestation.md V1). Exact strings.
SEV_SNP_GUEST_V2 = "https://tinfoil.sh/predicate/sev-snp-guest/v2"
TDX_GUEST_V2 = "https://tinfoil.sh/predicate/tdx-guest/v2"
SNP_TDX_MULTIPLATFORM_V1 = "https://tinfoil.sh/predicate/snp-tdx-multiplatform/v1"
HARDWARE_MEASUREMENTS_V1 = "https://tinfoil.sh/predicate/hardware-measurements/v1"


class Platform(StrEnum):
    """Hardware TEE platform of a verified enclave."""

    SEV_SNP = "sev-snp"
    TDX = "tdx"


@dataclass(frozen=True, slots=True)
class Measurement:
    """A typed list of measurement registers, lowercase hex (docs/attestation.md V5)."""

    type: str
    registers: tuple[str, ...]

    def fingerprint(self) -> str:
        """V5: one register is its own fingerprint; else sha256(type + registers)."""
        if len(self.registers) == 1:
            return self.registers[0]
        joined = self.type + "".join(self.registers)
        return hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StepResult:
    """Outcome of one pipeline step, for display (`privproxy verify`, /v1/verification)."""

    step: Step
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class VerifiedEnclave:
    """Everything `verify_bundle` proved about an enclave. Only built when every step passed."""

    domain: str
    platform: Platform
    hardware_measurement: Measurement
    code_measurement: Measurement
    release_digest: str
    repository: str
    hpke_public_key: bytes  # 32 raw X25519 bytes == report_data[32:64]
    tls_key_fingerprint: str  # lowercase hex == report_data[0:32]
    verified_at: dt.datetime
    tcb: dict[str, int] = field(default_factory=dict)  # platform TCB components, for display
    steps: tuple[StepResult, ...] = ()
    # every hardware verifier that accepted the evidence, with its version (TDX: two)
    verifiers: tuple[str, ...] = ()
    # Which attestation format proved this: "v2" (bundle) or "v3" (nonce-bound document).
    attestation_format: str = "v2"
    # v3 only: the verification is void from this instant (earliest witness time + 7 days).
    freshness_expires_at: dt.datetime | None = None
    # v3 only: sha256 of the device_evidence section, bound into REPORT_DATA. The GPU
    # evidence itself is NOT verified client-side (only its hash is bound).
    device_evidence_hash: str | None = None
    device_items: int = 0
    # v3 only: platform-endorsements policy name the machine is endorsed under.
    platform_policy: str | None = None

    @property
    def hpke_public_key_hex(self) -> str:
        """The attested HPKE key as lowercase hex."""
        return self.hpke_public_key.hex()

    @property
    def hpke_key_fingerprint(self) -> str:
        """sha256 of the raw HPKE key, hex; a short stable name for logs and the status page."""
        return hashlib.sha256(self.hpke_public_key).hexdigest()


__all__ = [
    "HARDWARE_MEASUREMENTS_V1",
    "SEV_SNP_GUEST_V2",
    "SNP_TDX_MULTIPLATFORM_V1",
    "TDX_GUEST_V2",
    "Measurement",
    "Platform",
    "StepResult",
    "VerifiedEnclave",
]
