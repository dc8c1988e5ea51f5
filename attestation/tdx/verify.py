"""Signatures inside the quote and the attestation-key binding
(docs/attestation.md V3.2 steps 2–4)."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attestation.errors import Code, HardwareError
from attestation.tdx.abi import TdxQuote


def ecdsa_p256_valid(key: ec.EllipticCurvePublicKey, raw_sig: bytes, message: bytes) -> bool:
    """Verify a raw r‖s (2×32 bytes, big-endian) ECDSA-SHA256 signature; never raises."""
    if len(raw_sig) != 64 or not isinstance(key.curve, ec.SECP256R1):
        return False
    der = encode_dss_signature(
        int.from_bytes(raw_sig[:32], "big"), int.from_bytes(raw_sig[32:], "big")
    )
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_quote_signature(quote: TdxQuote) -> None:
    """The attestation key signed header ‖ body (QUOTE_SIGNATURE_INVALID)."""
    try:
        ak = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + quote.attestation_key
        )
    except ValueError as exc:  # not a point on P-256: no signature by it can be valid
        raise HardwareError(
            Code.QUOTE_SIGNATURE_INVALID, "attestation key is not a P-256 point"
        ) from exc
    if not ecdsa_p256_valid(ak, quote.signature, quote.signed_bytes):
        raise HardwareError(Code.QUOTE_SIGNATURE_INVALID, "quote signature does not verify")


def verify_qe_report_signature(quote: TdxQuote, pck_leaf: x509.Certificate) -> None:
    """The PCK leaf key signed the 384-byte QE report (QE_REPORT_SIGNATURE_INVALID)."""
    key = pck_leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise HardwareError(Code.PCK_CHAIN_INVALID, "PCK leaf key is not an EC key")
    if not ecdsa_p256_valid(key, quote.qe_report_signature, quote.qe_report.raw):
        raise HardwareError(Code.QE_REPORT_SIGNATURE_INVALID, "QE report signature does not verify")


def verify_ak_binding(quote: TdxQuote) -> None:
    """QE REPORTDATA = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes."""
    expected = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest() + bytes(32)
    if quote.qe_report.report_data != expected:
        raise HardwareError(
            Code.AK_BINDING_INVALID, "QE report does not bind the quote's attestation key"
        )


__all__ = [
    "ecdsa_p256_valid",
    "verify_ak_binding",
    "verify_qe_report_signature",
    "verify_quote_signature",
]
