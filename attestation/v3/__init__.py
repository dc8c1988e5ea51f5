"""Tinfoil v3 attestation: nonce-bound documents verified offline (beside the v2 bundle).

``verify_document(document, nonce=..., repository=..., trust=..., now=..., domain=...)``
returns the same :class:`attestation.models.VerifiedEnclave` as v2, with
``attestation_format == "v3"`` and ``freshness_expires_at`` set. :class:`V3Attestor` fetches
a document for a fresh nonce and verifies it off the event loop.
"""

from __future__ import annotations

from attestation.v3.binding import new_nonce, parse_nonce, report_data_for
from attestation.v3.verifier import verify_document

__all__ = ["new_nonce", "parse_nonce", "report_data_for", "verify_document"]
