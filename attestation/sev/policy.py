"""SEV-SNP report policy: what a verified report must also satisfy (docs/attestation.md V2.3).

:meth:`SevPolicy.production` gives the Tinfoil production defaults, identical in the Go
verifier and tinfoil-python (mirroring go-sev-guest ``validate.Options``). Every field fails
closed; pins (``expected_*``) are extra restrictions and ``None`` means "not pinned".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TcbMinimum:
    """Component-wise TCB minimum (bootloader, TEE, SNP firmware, microcode SPLs)."""

    bl_spl: int = 7
    tee_spl: int = 0
    snp_spl: int = 14
    ucode_spl: int = 72

    def components(self) -> dict[str, int]:
        """Named minimums, matching :meth:`attestation.sev.abi.TcbVersion.components`."""
        return {
            "bl_spl": self.bl_spl,
            "tee_spl": self.tee_spl,
            "snp_spl": self.snp_spl,
            "ucode_spl": self.ucode_spl,
        }


@dataclass(frozen=True, slots=True)
class SevPolicy:
    """Frozen SEV-SNP policy. Defaults are the production values of V2.3."""

    # Guest policy: DEBUG, MIGRATE_MA, CXL_ALLOW, MEM_AES_256_XTS must be clear; the
    # reserved bit 17 must be 1 and bits 26-63 zero. These are not configurable.
    min_abi_major: int = 0
    min_abi_minor: int = 0
    min_guest_svn: int = 0
    # Firmware: current and committed build >= 21, API version >= 1.55.
    min_build: int = 21
    min_api_major: int = 1
    min_api_minor: int = 55
    # Committed firmware/TCB must equal the current ones (no provisional firmware).
    allow_provisional_firmware: bool = False
    # Platform: TSME must be enabled; SMT is allowed.
    require_tsme: bool = True
    # Current, committed, reported and launch TCB must each reach this minimum.
    min_tcb: TcbMinimum = field(default_factory=TcbMinimum)
    # Optional byte pins (conformance `policy.expected_*_hex`); None = not pinned.
    expected_measurement: bytes | None = None
    expected_host_data: bytes | None = None
    expected_report_data: bytes | None = None
    expected_id_key_digest: bytes | None = None
    expected_author_key_digest: bytes | None = None

    @classmethod
    def production(cls) -> SevPolicy:
        """Tinfoil production defaults (V2.3)."""
        return cls()


__all__ = ["SevPolicy", "TcbMinimum"]
