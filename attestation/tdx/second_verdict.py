"""A second, independent verdict on a TDX quote: Phala's ``dcap-qvl`` (Rust) on the same input.

Our verifier (``evidence.py``) is hand-written; a bug in it would accept a quote Intel's rules
refuse. ``dcap-qvl`` is an independent implementation of Intel's DCAP quote verification
(quote and QE signatures, PCK chain and CRLs, TCB Info / QE Identity signatures and
freshness, TCB level matching). A quote is accepted only when both accept it and reach the
same TCB status; anything else is TDX_VERIFIER_DISAGREEMENT with both verdicts in the message.

It adds a verdict, not rejection codes: ``dcap-qvl`` reports every failure as a ValueError
with free text, which we never parse. The codes stay ours; the second verifier can only turn
an acceptance into a rejection. It costs about 1 ms per quote (``tests/benchmarks/``),
only when a quote is verified, never per request.

The collateral is handed over as it was signed: the exact inner ``tcbInfo`` /
``enclaveIdentity`` text and its signature, the issuer chains, the CRLs. With the production
Intel root pin, ``dcap-qvl`` uses its own built-in copy of the Intel root, so even the root
is not shared; with another root (synthetic test chains) it is given the chain's root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from attestation.errors import AttestationError, Code, HardwareError
from attestation.sdk import dcap_qvl_label
from attestation.tdx.collateral import split_signed
from attestation.tdx.models import TdxCollateral
from attestation.tdx.trust import IntelTrust

_MAX_DETAIL: Final = 300


@dataclass(frozen=True, slots=True)
class SecondVerdict:
    """One verifier's verdict: accepted with a TCB status, or rejected with its reason."""

    verifier: str  # "dcap-qvl 0.7.0"
    accepted: bool
    tcb_status: str | None
    detail: str = ""

    def describe(self) -> str:
        """``"dcap-qvl 0.7.0 accepted (UpToDate)"`` or ``"… rejected: <reason>"``."""
        if self.accepted:
            return f"{self.verifier} accepted ({self.tcb_status})"
        return f"{self.verifier} rejected: {self.detail}"


@dataclass(frozen=True, slots=True)
class SecondInput:
    """What the second verifier gets: exactly the bytes the first one verified."""

    quote: bytes
    collateral: TdxCollateral
    pck_crl_issuer_chain_pem: str  # the collateral's, else the quote's own PCK CA ‖ root
    root_der: bytes | None  # None: the verifier's own built-in Intel root
    now: dt.datetime

    @classmethod
    def of(
        cls,
        quote: bytes,
        collateral: TdxCollateral,
        *,
        chain: list[x509.Certificate],
        trust: IntelTrust,
        now: dt.datetime,
    ) -> SecondInput:
        """The input for a quote whose PCK ``chain`` (leaf, CA, root) we verified."""
        pck_crl_chain = collateral.pck_crl_issuer_chain or "".join(
            c.public_bytes(Encoding.PEM).decode() for c in chain[1:]
        )
        production = trust == IntelTrust.production()
        root = None if production else chain[-1].public_bytes(Encoding.DER)
        return cls(quote, collateral, pck_crl_chain, root, now)


#: A second verifier: pure, CPU-bound, never raises for a bad quote (returns a rejection).
SecondVerifier = Callable[[SecondInput], SecondVerdict]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def dcap_qvl_verdict(given: SecondInput) -> SecondVerdict:
    """Run ``dcap-qvl`` on the quote and collateral; a missing package is a rejection."""
    name = dcap_qvl_label()
    try:
        import dcap_qvl
    except ImportError:
        return SecondVerdict(name, False, None, "the dcap-qvl package is not installed")
    collateral = given.collateral
    try:
        tcb_info = split_signed(collateral.tcb_info_json, "tcbInfo", "TCB Info")
        qe_identity = split_signed(collateral.qe_identity_json, "enclaveIdentity", "QE Identity")
    except AttestationError as exc:
        return SecondVerdict(name, False, None, f"collateral not passable: {exc.message}")
    now_secs = int(given.now.timestamp())
    try:
        qvl_collateral = dcap_qvl.QuoteCollateralV3(
            given.pck_crl_issuer_chain_pem,
            collateral.root_crl,
            collateral.pck_crl,
            collateral.tcb_info_issuer_chain or "",
            tcb_info.signed_bytes.decode(),
            tcb_info.signature,
            collateral.qe_identity_issuer_chain or "",
            qe_identity.signed_bytes.decode(),
            qe_identity.signature,
        )
        if given.root_der is None:
            report = dcap_qvl.verify(given.quote, qvl_collateral, now_secs)
        else:
            report = dcap_qvl.verify_with_root_ca(
                given.quote, qvl_collateral, given.root_der, now_secs
            )
    except (ValueError, RuntimeError, TypeError) as exc:  # dcap-qvl's only failure signals
        return SecondVerdict(name, False, None, _short(str(exc)))
    return SecondVerdict(name, True, str(report.status))


def require_agreement(
    verifier: SecondVerifier, given: SecondInput, *, ours: str, tcb_status: str | None
) -> SecondVerdict:
    """Run ``verifier``; TDX_VERIFIER_DISAGREEMENT unless it accepts with our TCB status."""
    if tcb_status is None:
        raise HardwareError(
            Code.TDX_VERIFIER_DISAGREEMENT,
            "a second verdict needs TCB evaluation, which this policy skipped",
        )
    second = verifier(given)
    if not second.accepted or second.tcb_status != tcb_status:
        raise HardwareError(
            Code.TDX_VERIFIER_DISAGREEMENT,
            f"TDX verifiers disagree: {ours}; {second.describe()}",
        )
    return second


__all__ = [
    "SecondInput",
    "SecondVerdict",
    "SecondVerifier",
    "dcap_qvl_verdict",
    "require_agreement",
]
