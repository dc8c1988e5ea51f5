"""DSSE envelope signature (docs/attestation.md V4.2 step 9)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from attestation.errors import Code, ProvenanceError
from attestation.provenance.bundle import DsseEnvelope
from attestation.provenance.sigcrypto import signature_valid


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def check_dsse_signature(envelope: DsseEnvelope, leaf: x509.Certificate) -> None:
    """ECDSA-SHA256 (as sigstore signs and verifies) over PAE with the leaf key."""
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProvenanceError(Code.DSSE_SIGNATURE_INVALID, "signing key is not an ECDSA key")
    if not signature_valid(key, envelope.signature, pae(envelope.payload_type, envelope.payload)):
        raise ProvenanceError(Code.DSSE_SIGNATURE_INVALID, "DSSE signature does not verify")


__all__ = ["check_dsse_signature", "pae"]
