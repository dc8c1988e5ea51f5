"""Verify the SEV-SNP report signature under the VCEK (docs/attestation.md V2.2 step 5).

Does **not** check: that the VCEK is trustworthy (``certs.py`` must have run first) or any
report policy (``validate.py``).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attestation.errors import Code, HardwareError
from attestation.sev.abi import SevReport


def verify_report_signature(report: SevReport, vcek: x509.Certificate) -> None:
    """Raise REPORT_SIGNATURE_INVALID unless ECDSA-P384/SHA-384 over report[0:0x2A0] verifies.

    r and s are stored little-endian in 72-byte fields (V2.1); the DER signature is rebuilt
    from the integers, so padding bytes beyond 48 are covered by the MBZ check in ``abi.py``.
    """
    key = vcek.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise HardwareError(Code.VCEK_CHAIN_INVALID, "VCEK key is not an EC key")
    signature = encode_dss_signature(report.signature_r, report.signature_s)
    try:
        key.verify(signature, report.signed_bytes, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature as exc:
        raise HardwareError(
            Code.REPORT_SIGNATURE_INVALID, "report signature does not verify under the VCEK"
        ) from exc


__all__ = ["verify_report_signature"]
