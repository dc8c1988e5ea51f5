"""Nonce generation and the v3 binding ladder (pure SHA-256, no trust yet).

REPORT_DATA = SHA256(label || nonce || SHA256(crypto_material) || SHA256(device_evidence))
followed by 32 zero bytes. The hardware quote must carry exactly these 64 bytes; the
document's own ``challenge.report_data`` is only an echo that has to agree.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from attestation.errors import BundleError, Code
from attestation.v3.constants import NONCE_SIZE, REPORT_DATA_V1
from attestation.v3.document import Document


def new_nonce() -> bytes:
    """A fresh 32-byte nonce from the operating system's CSPRNG."""
    return secrets.token_bytes(NONCE_SIZE)


def parse_nonce(text: str) -> bytes:
    """A caller-supplied nonce: exactly 64 hex characters (V3_CONFIG_BAD_NONCE otherwise)."""
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise BundleError(Code.V3_CONFIG_BAD_NONCE, "nonce is not hex") from exc
    if len(raw) != NONCE_SIZE:
        raise BundleError(Code.V3_CONFIG_BAD_NONCE, f"nonce is {len(raw)} bytes, need 32")
    return raw


def report_data_for(nonce: bytes, cm_hash: bytes, de_hash: bytes) -> bytes:
    """The 64-byte REPORT_DATA a v3 enclave must sign for these inputs."""
    digest = hashlib.sha256(REPORT_DATA_V1.encode("ascii") + nonce + cm_hash + de_hash).digest()
    return digest + bytes(32)


def check_bindings(doc: Document, nonce: bytes) -> bytes:
    """Nonce echo, both section hashes, the REPORT_DATA echo; returns the expected REPORT_DATA.

    The nonce compared is always the caller's own, never the one in the document.
    """
    if len(nonce) != NONCE_SIZE:
        raise BundleError(Code.V3_CONFIG_BAD_NONCE, f"nonce is {len(nonce)} bytes, need 32")
    if not hmac.compare_digest(doc.nonce_hex, nonce.hex()):
        raise BundleError(Code.V3_ENV_NONCE_MISMATCH, "challenge.nonce is not our nonce")
    cm_hash = hashlib.sha256(doc.crypto_material_bytes).digest()
    if not hmac.compare_digest(cm_hash, doc.crypto_material_hash):
        raise BundleError(
            Code.V3_ENV_CM_HASH_MISMATCH, "crypto_material does not hash to the endorsed value"
        )
    de_hash = hashlib.sha256(doc.device_evidence_bytes).digest()
    if not hmac.compare_digest(de_hash, doc.device_evidence_hash):
        raise BundleError(
            Code.V3_ENV_DE_HASH_MISMATCH, "device_evidence does not hash to the endorsed value"
        )
    expected = report_data_for(nonce, cm_hash, de_hash)
    if not hmac.compare_digest(expected, doc.report_data):
        raise BundleError(
            Code.V3_ENV_REPORT_DATA_MISMATCH, "challenge.report_data is not the derived value"
        )
    return expected


__all__ = ["check_bindings", "new_nonce", "parse_nonce", "report_data_for"]
