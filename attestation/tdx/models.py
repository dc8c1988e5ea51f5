"""Value types of the TDX verifier: injected collateral in, verified quote out."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from attestation.models import Measurement


class PckCa(StrEnum):
    """Which Intel PCK intermediate CA issued a PCK leaf (docs/attestation.md V3.2 step 5)."""

    PLATFORM = "platform"
    PROCESSOR = "processor"


@dataclass(frozen=True, slots=True)
class TdxCollateral:
    """Intel PCS collateral exactly as served (V3.3); signatures are checked over these bytes.

    * ``tcb_info_json`` / ``qe_identity_json``: the raw response text (never re-serialized).
    * ``*_issuer_chain``: PEM (URL-decoded PCS header); ``None`` when the source had none, which
      fails the corresponding signature check (the PCK CRL instead falls back to the verified
      PCK intermediate of the quote, its actual issuer).
    * ``pck_crl`` / ``root_crl``: DER. ``pck_crl_ca`` says which CA the PCK CRL is for.
    """

    tcb_info_json: str
    qe_identity_json: str
    pck_crl: bytes
    root_crl: bytes
    tcb_info_issuer_chain: str | None = None
    qe_identity_issuer_chain: str | None = None
    pck_crl_issuer_chain: str | None = None
    pck_crl_ca: PckCa | None = None


@dataclass(frozen=True, slots=True)
class VerifiedTdxQuote:
    """What `verify_tdx_evidence` proved about a quote. Only built when every check passed.

    ``tcb_status`` / ``qv_result`` are ``None`` only when the policy skipped TCB evaluation
    (conformance structural fixtures); production always evaluates.
    """

    measurement: Measurement  # tdx-guest/v2: [mrtd, rtmr0, rtmr1, rtmr2, rtmr3], lowercase hex
    report_data: bytes  # 64 bytes: [0:32] TLS SPKI hash, [32:64] HPKE key
    tcb_status: str | None
    qv_result: str | None
    fmspc: str  # lowercase hex, from the PCK leaf
    tcb: dict[str, int] = field(default_factory=dict)  # display: TEE_TCB_SVN bytes, PCESVN, eval#
    collateral_expired: bool = False
    # each verifier that accepted the quote, with its version and TCB status
    verifiers: tuple[str, ...] = ()


__all__ = ["PckCa", "TdxCollateral", "VerifiedTdxQuote"]
