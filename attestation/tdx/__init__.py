"""Intel TDX quote v4 verification (docs/attestation.md V3).

Public surface::

    verify_tdx_evidence(quote, collateral=..., policy=TdxPolicy.production(),
                        trust=IntelTrust.production(), now=...) -> VerifiedTdxQuote

It raises `attestation.errors.HardwareError` (or `BundleError` for an unparsable quote) with a
precise `Code`. Clock, trust root and collateral are injected; nothing here touches the network
(see `collateral_source` for fetching).

The names load on first use (PEP 562): the production policy and trust need only
`tdx.policy` and `tdx.trust`, so verifying an SEV-SNP bundle never imports the quote parser,
the collateral checks or the TCB evaluation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attestation.lazy import lazy_attribute

if TYPE_CHECKING:
    from attestation.tdx.evidence import verify_tdx_evidence
    from attestation.tdx.models import PckCa, TdxCollateral, VerifiedTdxQuote
    from attestation.tdx.policy import TdxPolicy
    from attestation.tdx.trust import IntelTrust

_LAZY: dict[str, str] = {
    "IntelTrust": "attestation.tdx.trust",
    "PckCa": "attestation.tdx.models",
    "TdxCollateral": "attestation.tdx.models",
    "TdxPolicy": "attestation.tdx.policy",
    "VerifiedTdxQuote": "attestation.tdx.models",
    "verify_tdx_evidence": "attestation.tdx.evidence",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)


__all__ = [
    "IntelTrust",
    "PckCa",
    "TdxCollateral",
    "TdxPolicy",
    "VerifiedTdxQuote",
    "verify_tdx_evidence",
]
