"""TDX verification policy: TCB status and TD policy (docs/attestation.md V3.3 step 12, V3.4).

`TdxPolicy()` (= `TdxPolicy.production()`) is the fail-closed Tinfoil production policy. Its
Tinfoil values come from the shipped table (`policy_data`, `trustdata/tdx_policy.json`), where
each value names its source. Every
conformance `policy` knob of `verify-attestation-tdx` has a field here, so the conformance
adapter and the production path run one verifier. `None` means "no pin" for an optional pin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from attestation.tdx.policy_data import production_table

_log = logging.getLogger(__name__)

# --- Tinfoil production values: data with provenance, see trustdata/tdx_policy.json -------------
_TABLE = production_table()
MR_SEAM_ALLOWLIST: tuple[bytes, ...] = tuple(m.mr_seam for m in _TABLE.accepted)
TD_ATTRIBUTES_SEPT_VE_DISABLE_ONLY = _TABLE.td_attributes
XFAM_TINFOIL = _TABLE.xfam
MIN_TEE_TCB_SVN_TINFOIL = _TABLE.min_tee_tcb_svn
# Minimum tcbEvaluationDataNumber for TCB Info and QE Identity (V3.3 step 6): guards against the
# replay of older collateral. PCS serves the newest, so a live platform always meets it.
MIN_TCB_EVALUATION_DATA_NUMBER = _TABLE.min_tcb_evaluation_data_number

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
ZERO_48 = bytes(48)
ZERO_8 = bytes(8)

# TCB statuses accepted by default (docs/attestation.md V3.3 step 12).
ACCEPTED_TCB_STATUSES: frozenset[str] = frozenset(
    {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}
)


@dataclass(frozen=True, slots=True)
class TdxPolicy:
    """What a verified TDX quote must additionally satisfy. Defaults are Tinfoil production.

    * ``tcb_evaluation_required``: evaluate collateral (CRLs, TCB Info, QE Identity). Only the
      conformance "structural" fixtures turn it off; production never does.
    * ``accepted_tcb_statuses``: platform TCB statuses accepted (others:
      QV_RESULT_NOT_ACCEPTED_BY_POLICY, or TCB_REVOKED for Revoked).
    * ``accepted_qv_results``: optional narrowing by qv_result name (``"OK"`` …).
    * ``enforce_spec_defaults``: the always-on XFAM / TD_ATTRIBUTES bit rules (V3.4).
    * ``expected_*`` / ``mr_seam_allowlist`` / ``min_tee_tcb_svn``: exact pins, ``None`` = none.
    * ``second_verifier_required``: a TDX quote is accepted only when an independent second
      verifier (``attestation.tdx.second_verdict``) also accepts it with the same TCB status.
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
    second_verifier_required: bool = True

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
    def production(cls, extra_mr_seams: Iterable[bytes] = ()) -> TdxPolicy:
        """The Tinfoil production policy from the shipped table, plus operator-added modules.

        ``extra_mr_seams`` (``--tdx-mr-seam-allow``) lets an operator accept a TDX module the
        shipped table does not list yet, without a release. Each one is logged at WARNING:
        it widens what the proxy trusts beyond the published policy.
        """
        extra = tuple(bytes(m) for m in extra_mr_seams)
        for mr_seam in extra:
            if len(mr_seam) != 48:
                raise ValueError("an added MR_SEAM must be 48 bytes (96 hex digits)")
            if mr_seam not in MR_SEAM_ALLOWLIST:
                _log.warning(
                    "TDX policy widened by operator configuration: MR_SEAM %s (%s) is accepted"
                    " although the shipped production policy does not list it",
                    mr_seam.hex(),
                    _TABLE.describe(mr_seam),
                )
        allow = MR_SEAM_ALLOWLIST + tuple(m for m in extra if m not in MR_SEAM_ALLOWLIST)
        return cls(mr_seam_allowlist=allow)

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
            second_verifier_required=False,
        )


__all__ = [
    "ACCEPTED_TCB_STATUSES",
    "INTEL_QE_VENDOR_ID",
    "MIN_TCB_EVALUATION_DATA_NUMBER",
    "MR_SEAM_ALLOWLIST",
    "TdxPolicy",
]
