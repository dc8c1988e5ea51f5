"""Signature primitives shared by the explicit Sigstore checks (keys from the trust root)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


def signature_valid(
    key: PublicKeyTypes, signature: bytes, data: bytes, digest: hashes.HashAlgorithm | None = None
) -> bool:
    """True iff ``signature`` over ``data`` verifies under ``key`` (SHA-256 unless given).

    ECDSA, RSA PKCS#1 v1.5 and Ed25519 are the key types Sigstore trust roots carry. Any
    other key type, or a signature that does not parse, is simply "not valid".
    """
    algorithm = digest if digest is not None else hashes.SHA256()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


__all__ = ["signature_valid"]
