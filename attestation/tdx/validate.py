"""TD policy: the "extended TD checks" on the quote body (docs/attestation.md V3.4;
Intel DCAP §2.3.2).

Runs after the quote and its collateral verified. Each check raises its own code; the order is
fixed: QE vendor, spec bit rules, then the exact pins in body order.
"""

from __future__ import annotations

from attestation.errors import Code, HardwareError
from attestation.tdx.abi import TdxQuote
from attestation.tdx.certs import PckExtensions
from attestation.tdx.policy import TdxPolicy
from attestation.tdx.policy_data import production_table

TD_ATTR_DEBUG = 1 << 0
# Bits a TD may set: DEBUG (0, rejected separately), SEPT_VE_DISABLE (28), PKS (30), PERFMON (63).
TD_ATTR_ALLOWED = (1 << 0) | (1 << 28) | (1 << 30) | (1 << 63)
XFAM_FIXED1 = 0x00000003  # FP and SSE must be set
XFAM_FIXED0 = 0x0006DBE7  # no bit outside this mask may be set


def _pin(actual: bytes, expected: bytes | None, code: Code, what: str) -> None:
    if expected is not None and actual != expected:
        raise HardwareError(code, f"{what} {actual.hex()} != pinned {expected.hex()}")


def check_spec_defaults(quote: TdxQuote) -> None:
    """V3.4: no debug TD, no reserved TD_ATTRIBUTES bits, sane XFAM."""
    attrs = int.from_bytes(quote.body.td_attributes, "little")
    if attrs & TD_ATTR_DEBUG:
        raise HardwareError(Code.TD_ATTRIBUTES_DEBUG_SET, "TD_ATTRIBUTES.DEBUG is set")
    if attrs & ~TD_ATTR_ALLOWED:
        raise HardwareError(
            Code.TD_ATTRIBUTES_RESERVED_BIT_SET,
            f"TD_ATTRIBUTES has reserved bits {attrs & ~TD_ATTR_ALLOWED:#x}",
        )
    xfam = int.from_bytes(quote.body.xfam, "little")
    if xfam & XFAM_FIXED1 != XFAM_FIXED1:
        raise HardwareError(Code.XFAM_REQUIRED_BIT_CLEAR, f"XFAM {xfam:#x} lacks FP/SSE")
    if xfam & ~XFAM_FIXED0:
        raise HardwareError(
            Code.XFAM_FORBIDDEN_BIT_SET, f"XFAM has forbidden bits {xfam & ~XFAM_FIXED0:#x}"
        )


def check_module_allowed(quote: TdxQuote, policy: TdxPolicy) -> None:
    """The TDX module (MR_SEAM) must be one the policy accepts. Checked first of all policy
    checks, right after the quote's signatures: a retired module is refused for that reason,
    whatever its platform collateral says."""
    mr_seam = quote.body.mr_seam
    if policy.mr_seam_allowlist is not None and mr_seam not in policy.mr_seam_allowlist:
        name = production_table().describe(mr_seam)
        raise HardwareError(
            Code.MR_SEAM_NOT_ALLOWED,
            f"MR_SEAM {mr_seam.hex()} ({name}) is not an allowed TDX module",
        )


def check_td_policy(quote: TdxQuote, pck: PckExtensions, policy: TdxPolicy) -> None:
    """Apply every TD-policy rule and pin of `policy` to a verified quote."""
    body = quote.body
    _pin(
        quote.header.qe_vendor_id,
        policy.expected_qe_vendor_id,
        Code.QE_VENDOR_ID_MISMATCH,
        "QE vendor",
    )
    if policy.enforce_spec_defaults:
        check_spec_defaults(quote)
    _pin(
        body.td_attributes,
        policy.expected_td_attributes,
        Code.TD_ATTRIBUTES_MISMATCH,
        "TD_ATTRIBUTES",
    )
    _pin(body.xfam, policy.expected_xfam, Code.XFAM_MISMATCH, "XFAM")
    _pin(
        body.mr_signer_seam,
        policy.expected_mr_signer_seam,
        Code.MR_SIGNER_SEAM_MISMATCH,
        "MR_SIGNER_SEAM",
    )
    _pin(
        body.seam_attributes,
        policy.expected_seam_attributes,
        Code.SEAM_ATTRIBUTES_MISMATCH,
        "SEAM_ATTRIBUTES",
    )
    check_module_allowed(quote, policy)
    _pin(body.mr_td, policy.expected_mrtd, Code.MRTD_MISMATCH, "MRTD")
    _pin(
        body.mr_config_id, policy.expected_mr_config_id, Code.MR_CONFIG_ID_MISMATCH, "MR_CONFIG_ID"
    )
    _pin(body.mr_owner, policy.expected_mr_owner, Code.MR_OWNER_MISMATCH, "MR_OWNER")
    _pin(
        body.mr_owner_config,
        policy.expected_mr_owner_config,
        Code.MR_OWNER_CONFIG_MISMATCH,
        "MR_OWNER_CONFIG",
    )
    _pin(body.rtmrs[3], policy.expected_rtmr3, Code.RTMR3_NONZERO, "RTMR3")
    _pin(body.report_data, policy.expected_report_data, Code.REPORT_DATA_MISMATCH, "REPORT_DATA")
    if policy.min_tee_tcb_svn is not None and any(
        a < m for a, m in zip(body.tee_tcb_svn, policy.min_tee_tcb_svn, strict=True)
    ):
        raise HardwareError(
            Code.TEE_TCB_SVN_BELOW_MINIMUM,
            f"TEE_TCB_SVN {body.tee_tcb_svn.hex()} below {policy.min_tee_tcb_svn.hex()}",
        )
    _pin(pck.fmspc, policy.expected_fmspc, Code.PCK_FMSPC_MISMATCH, "FMSPC")


__all__ = ["check_module_allowed", "check_spec_defaults", "check_td_policy"]
