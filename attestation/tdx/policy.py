"""TDX verification policy: TCB status and TD policy (docs/attestation.md V3.3 step 12, V3.4).

`TdxPolicy()` (= `TdxPolicy.production()`) is the fail-closed Tinfoil production policy. Every
conformance `policy` knob of `verify-attestation-tdx` has a field here, so the conformance
adapter and the production path run one verifier. `None` means "no pin" for an optional pin.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Intel TDX module MR_SEAM allowlist (docs/attestation.md V3.4) -------------------
# SHA-384 of the Intel TDX module binary per release. The Go verifier and tinfoil-python ship
# different lists; we keep the values we could check byte for byte. Releases whose
# full hash we only know by prefix (1.5.25 `fca4ff…`, 2.0.14 `aef4ed…`, 2.0.02 `685f89…`) are
# NOT listed: an unknown module fails closed with MR_SEAM_NOT_ALLOWED until added here.
MR_SEAM_TDX_1_5_08 = bytes.fromhex(
    "49b66faa451d19ebbdbe89371b8daf2b65aa3984ec90110343e9e2eec116af08"
    "850fa20e3b1aa9a874d77a65380ee7e6"
)  # module 1.5.08: tinfoilsh/verifier list; the MR_SEAM of the real Tinfoil quote in tests/data
MR_SEAM_TDX_1_5_16 = bytes.fromhex(
    "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4d"
    "f648657ba6d1189589feab1d5a3c9a9d"
)  # module 1.5.16: both SDKs (value as in conformance fixture 430)
MR_SEAM_TDX_2_0_08 = bytes.fromhex(
    "476a2997c62bccc78370913d0a80b956e3721b24272bc66c4d6307ced4be2865"
    "c40e26afac75f12df3425b03eb59ea7c"
)  # module 2.0.08: both SDKs (value as in conformance fixture 430)
MR_SEAM_ALLOWLIST: tuple[bytes, ...] = (MR_SEAM_TDX_1_5_08, MR_SEAM_TDX_1_5_16, MR_SEAM_TDX_2_0_08)

# --- Tinfoil production pins (V3.4) -----------------------------------------------------------
TD_ATTRIBUTES_SEPT_VE_DISABLE_ONLY = bytes.fromhex("0000001000000000")
XFAM_TINFOIL = bytes.fromhex("e702060000000000")
MIN_TEE_TCB_SVN_TINFOIL = bytes.fromhex("03010200000000000000000000000000")
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
ZERO_48 = bytes(48)
ZERO_8 = bytes(8)

# Minimum tcbEvaluationDataNumber for TCB Info and QE Identity (V3.3 step 6). tinfoil-python uses
# 19, the Go verifier 18; 18 is the number of the newest collateral we can verify offline (the
# snapshot in tests/data). PCS
# serves the newest collateral, so this floor only guards against replay of older collateral.
MIN_TCB_EVALUATION_DATA_NUMBER = 18

# TCB statuses accepted by default (V3.3 step 12).
ACCEPTED_TCB_STATUSES: frozenset[str] = frozenset(
    {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}
)


@dataclass(frozen=True, slots=True)
class TdxPolicy:
    """What a verified TDX quote must additionally satisfy. Defaults are Tinfoil production.

    * ``tcb_evaluation_required``: evaluate collateral (CRLs, TCB Info, QE Identity). Only the
      conformance "structural" fixtures turn it off; production never does.
    * ``accepted_tcb_statuses``: platform TCB statuses accepted (others: QV_RESULT_OUT_OF_DATE /
      TCB_REVOKED / QV_RESULT_NOT_ACCEPTED_BY_POLICY).
    * ``accepted_qv_results``: optional narrowing by qv_result name (``"OK"`` …).
    * ``enforce_spec_defaults``: the always-on XFAM / TD_ATTRIBUTES bit rules (V3.4).
    * ``expected_*`` / ``mr_seam_allowlist`` / ``min_tee_tcb_svn``: exact pins, ``None`` = none.
    """

    tcb_evaluation_required: bool = True
    accepted_tcb_statuses: frozenset[str] = ACCEPTED_TCB_STATUSES
    accepted_qv_results: frozenset[str] | None = None
    min_tcb_evaluation_data_number: int = MIN_TCB_EVALUATION_DATA_NUMBER
    enforce_spec_defaults: bool = True
    expected_td_attributes: bytes | None = TD_ATTRIBUTES_SEPT_VE_DISABLE_ONLY
    expected_xfam: bytes | None = XFAM_TINFOIL
    expected_mr_signer_seam: bytes | None = ZERO_48
    expected_seam_attributes: bytes | None = ZERO_8
    mr_seam_allowlist: tuple[bytes, ...] | None = MR_SEAM_ALLOWLIST
    expected_mrtd: bytes | None = None
    expected_mr_config_id: bytes | None = ZERO_48
    expected_mr_owner: bytes | None = ZERO_48
    expected_mr_owner_config: bytes | None = ZERO_48
    expected_rtmr3: bytes | None = ZERO_48
    expected_report_data: bytes | None = None
    min_tee_tcb_svn: bytes | None = MIN_TEE_TCB_SVN_TINFOIL
    expected_qe_vendor_id: bytes | None = INTEL_QE_VENDOR_ID
    expected_fmspc: bytes | None = None

    def __post_init__(self) -> None:
        sizes = {
            "expected_td_attributes": 8,
            "expected_xfam": 8,
            "expected_mr_signer_seam": 48,
            "expected_seam_attributes": 8,
            "expected_mrtd": 48,
            "expected_mr_config_id": 48,
            "expected_mr_owner": 48,
            "expected_mr_owner_config": 48,
            "expected_rtmr3": 48,
            "expected_report_data": 64,
            "min_tee_tcb_svn": 16,
            "expected_qe_vendor_id": 16,
            "expected_fmspc": 6,
        }
        for name, size in sizes.items():
            value = getattr(self, name)
            if value is not None and len(value) != size:
                raise ValueError(f"TdxPolicy.{name} must be {size} bytes")
        if self.mr_seam_allowlist is not None and any(len(v) != 48 for v in self.mr_seam_allowlist):
            raise ValueError("TdxPolicy.mr_seam_allowlist entries must be 48 bytes")
        if self.min_tcb_evaluation_data_number < 0:
            raise ValueError("TdxPolicy.min_tcb_evaluation_data_number must be >= 0")

    @classmethod
    def production(cls) -> TdxPolicy:
        """The Tinfoil production policy (V3.4 pins, V3.3 step 12 statuses, eval# ≥ 18)."""
        return cls()

    @classmethod
    def unpinned(cls) -> TdxPolicy:
        """Intel DCAP verification without any Tinfoil pin (the conformance baseline).

        TCB evaluation stays on and the spec bit rules are off, as in the conformance adapter
        when the fixture's ``policy`` is empty. Not for production use.
        """
        return cls(
            enforce_spec_defaults=False,
            min_tcb_evaluation_data_number=0,
            expected_td_attributes=None,
            expected_xfam=None,
            expected_mr_signer_seam=None,
            expected_seam_attributes=None,
            mr_seam_allowlist=None,
            expected_mr_config_id=None,
            expected_mr_owner=None,
            expected_mr_owner_config=None,
            expected_rtmr3=None,
            min_tee_tcb_svn=None,
            expected_qe_vendor_id=None,
        )


__all__ = [
    "ACCEPTED_TCB_STATUSES",
    "INTEL_QE_VENDOR_ID",
    "MIN_TCB_EVALUATION_DATA_NUMBER",
    "MR_SEAM_ALLOWLIST",
    "TdxPolicy",
]
