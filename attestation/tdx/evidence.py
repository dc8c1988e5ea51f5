"""The TDX pipeline, in reference order (docs/attestation.md V3.2, V3.3, V3.4):

parse → QE vendor → PCK chain → quote signature → QE report signature → AK binding →
PCK extensions → collateral (if evaluated) → TCB level and status policy → TD policy →
second verdict (if the policy requires it).

Cryptographic checks of the quote come before any collateral check, so a broken quote is
reported as such whatever the collateral; the TD policy comes last.
"""

from __future__ import annotations

import datetime as dt

from attestation.errors import Code, HardwareError
from attestation.models import TDX_GUEST_V2, Measurement
from attestation.sdk import sdk_label
from attestation.tdx.abi import TdxQuote, parse_quote
from attestation.tdx.certs import (
    PCK_CHAIN_CODES,
    load_pem_chain,
    parse_pck_extensions,
    verify_chain,
)
from attestation.tdx.collateral_checks import verify_collateral
from attestation.tdx.models import TdxCollateral, VerifiedTdxQuote
from attestation.tdx.policy import INTEL_QE_VENDOR_ID, TdxPolicy
from attestation.tdx.second_verdict import (
    SecondInput,
    SecondVerifier,
    dcap_qvl_verdict,
    require_agreement,
)
from attestation.tdx.tcb import evaluate_tcb
from attestation.tdx.trust import IntelTrust
from attestation.tdx.validate import check_module_allowed, check_td_policy
from attestation.tdx.verify import (
    verify_ak_binding,
    verify_qe_report_signature,
    verify_quote_signature,
)


def tdx_measurement(quote: TdxQuote) -> Measurement:
    """The tdx-guest/v2 measurement: [MRTD, RTMR0, RTMR1, RTMR2, RTMR3], lowercase hex."""
    regs = (quote.body.mr_td, *quote.body.rtmrs)
    return Measurement(type=TDX_GUEST_V2, registers=tuple(r.hex() for r in regs))


def verify_tdx_evidence(
    quote: bytes,
    *,
    collateral: TdxCollateral,
    policy: TdxPolicy,
    trust: IntelTrust,
    now: dt.datetime,
    second_verifier: SecondVerifier = dcap_qvl_verdict,
) -> VerifiedTdxQuote:
    """Verify a raw TDX v4 quote with injected collateral, policy, trust and time.

    Raises `HardwareError` with the code of the first failing check. When the policy requires
    it (production), ``second_verifier`` must then accept the same quote with the same TCB
    status (TDX_VERIFIER_DISAGREEMENT otherwise). Pure and CPU-bound (a few ms): async
    callers run it in `asyncio.to_thread`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    parsed = parse_quote(quote)
    if parsed.header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise HardwareError(
            Code.QE_VENDOR_UNKNOWN, f"QE vendor {parsed.header.qe_vendor_id.hex()} is not Intel"
        )
    chain = load_pem_chain(parsed.pck_chain_pem, PCK_CHAIN_CODES)
    verify_chain(chain, length=3, trust=trust, now=now, codes=PCK_CHAIN_CODES)
    verify_quote_signature(parsed)
    verify_qe_report_signature(parsed, chain[0])
    verify_ak_binding(parsed)
    pck = parse_pck_extensions(chain[0])
    check_module_allowed(parsed, policy)

    tcb_status: str | None = None
    qv_result: str | None = None
    tcb: dict[str, int] = {f"tee_tcb_svn_{i}": v for i, v in enumerate(parsed.body.tee_tcb_svn[:3])}
    tcb["pce_svn"] = pck.pce_svn
    if policy.tcb_evaluation_required:
        verified = verify_collateral(
            collateral,
            pck_chain=chain,
            pck=pck,
            trust=trust,
            now=now,
            min_evaluation_data_number=policy.min_tcb_evaluation_data_number,
        )
        verdict = evaluate_tcb(parsed, pck, verified.tcb_info, verified.qe_identity, policy)
        tcb_status, qv_result = verdict.tcb_status, verdict.qv_result
        tcb["tcb_evaluation_data_number"] = verified.tcb_info.evaluation_data_number
        tcb["qe_isv_svn"] = parsed.qe_report.isv_svn

    check_td_policy(parsed, pck, policy)
    ours = f"{sdk_label()} accepted ({tcb_status})"
    verifiers: tuple[str, ...] = (ours,)
    if policy.second_verifier_required:
        given = SecondInput.of(quote, collateral, chain=chain, trust=trust, now=now)
        second = require_agreement(second_verifier, given, ours=ours, tcb_status=tcb_status)
        verifiers = (ours, second.describe())
    return VerifiedTdxQuote(
        measurement=tdx_measurement(parsed),
        report_data=parsed.body.report_data,
        tcb_status=tcb_status,
        qv_result=qv_result,
        fmspc=pck.fmspc.hex(),
        tcb=tcb,
        verifiers=verifiers,
    )


__all__ = ["tdx_measurement", "verify_tdx_evidence"]
