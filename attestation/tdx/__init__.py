"""Intel TDX quote v4 verification (ATTESTATION.md A.3).

Public surface::

    verify_tdx_evidence(quote, collateral=..., policy=TdxPolicy.production(),
                        trust=IntelTrust.production(), now=...) -> VerifiedTdxQuote

It raises `attestation.errors.HardwareError` (or `BundleError` for an unparsable quote) with a
precise `Code`. Clock, trust root and collateral are injected; nothing here touches the network
(see `collateral_source` for fetching).
"""

from __future__ import annotations

from attestation.tdx.evidence import verify_tdx_evidence
from attestation.tdx.models import PckCa, TdxCollateral, VerifiedTdxQuote
from attestation.tdx.policy import TdxPolicy
from attestation.tdx.trust import IntelTrust

__all__ = [
    "IntelTrust",
    "PckCa",
    "TdxCollateral",
    "TdxPolicy",
    "VerifiedTdxQuote",
    "verify_tdx_evidence",
]
