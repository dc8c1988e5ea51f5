"""Key binding: REPORT_DATA layout, enclave certificate SANs, offered HPKE keys.

Steps: docs/attestation.md V6; SAN encoding: docs/protocol.md §2.3.

REPORT_DATA (64 bytes, signed by the hardware) is ``sha256(SPKI DER of the TLS key) ||
X25519 HPKE public key``. The enclave TLS certificate repeats the HPKE key and the attestation
document hash in "dcode" SANs (``NN<base32>.hpke.<zone>``, ``NN<base32>.hatt.<zone>``).

:func:`verify_enclave_certificate` checks, beyond the reference SDKs, that the certificate's
own public key is the one REPORT_DATA[0:32] commits to. It deliberately does **not** check the
certificate's validity dates or issuer chain: no reference does (docs/protocol.md §2.5), the
binding to the verified report is what makes the key trustworthy, and the real bundle's
certificate expired on 2026-04-22 while its report and VCEK still verify. The proxy seals to
the HPKE key and never uses this certificate for TLS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from attestation.errors import Code, KeyBindingError

REPORT_DATA_SIZE: Final = 64
TLS_FP_SIZE: Final = 32
HPKE_KEY_SIZE: Final = 32
MAX_CERT_PEM: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class AttestedKeys:
    """Keys the hardware report commits to."""

    tls_key_fingerprint: bytes  # sha256(SPKI DER) of the enclave TLS key
    hpke_public_key: bytes  # raw X25519


def split_report_data(report_data: bytes) -> AttestedKeys:
    """Split REPORT_DATA into the TLS fingerprint and the HPKE key. ValueError if not 64 bytes."""
    if len(report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"report_data must be {REPORT_DATA_SIZE} bytes, got {len(report_data)}")
    return AttestedKeys(report_data[:TLS_FP_SIZE], report_data[TLS_FP_SIZE:])


def parse_hpke_public_key(raw: bytes) -> bytes:
    """Validate ``raw`` with the EHBP transport's HPKE parser (pyhpke, X25519); else ValueError."""
    from pyhpke import (
        AEADId,
        CipherSuite,
        KDFId,
        KEMId,
        PyHPKEError,
    )  # lazy: not needed at start-up

    if len(raw) != HPKE_KEY_SIZE:
        raise ValueError(f"an X25519 public key is {HPKE_KEY_SIZE} bytes, got {len(raw)}")
    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
    try:
        suite.kem.deserialize_public_key(raw)
    except (ValueError, PyHPKEError) as exc:
        raise ValueError("not a valid X25519 public key") from exc
    return raw


def check_offered_hpke_key(report_data: bytes, offered: bytes) -> AttestedKeys:
    """Accept an HPKE key obtained elsewhere only if it equals REPORT_DATA[32:64] (V6).

    Raises ValueError for malformed input (wrong sizes, unparsable key) and
    :class:`KeyBindingError` (EHBP_KEY_BINDING_MISMATCH) for a key swap.
    """
    keys = split_report_data(report_data)
    parse_hpke_public_key(offered)
    if not hmac.compare_digest(offered, keys.hpke_public_key):
        raise KeyBindingError(
            Code.EHBP_KEY_BINDING_MISMATCH,
            "offered HPKE key is not the attested report_data[32:64]",
        )
    return keys


def spki_sha256(cert: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's DER SubjectPublicKeyInfo."""
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _covers(san: str, domain: str) -> bool:
    """Exact match, or a ``*.`` wildcard standing for exactly one label (V6)."""
    san, domain = san.lower().rstrip("."), domain.lower().rstrip(".")
    if san == domain:
        return True
    if san.startswith("*."):
        head, _, rest = domain.partition(".")
        return bool(head) and rest == san[2:]
    return False


def decode_dcode(sans: list[str], label: str, domain: str) -> bytes:
    """Reassemble a dcode value from ``NN<chunk>.<label>.<zone>`` SANs (docs/protocol.md §2.3).

    ``zone`` must be the bundle domain or one of its parents. Indices must be 00..n-1 with no
    gaps or duplicates. Raises :class:`KeyBindingError` (CERT_MALFORMED) otherwise.
    """
    domain = domain.lower()
    chunks: dict[int, str] = {}
    for san in sans:
        parts = san.lower().split(".")
        if len(parts) < 3 or parts[1] != label:
            continue
        zone = ".".join(parts[2:])
        if not (domain == zone or domain.endswith("." + zone)):
            continue
        first = parts[0]
        if len(first) < 3 or not first[:2].isdigit():
            raise KeyBindingError(Code.CERT_MALFORMED, f"{label} SAN {san!r} has no chunk index")
        index = int(first[:2])
        if index in chunks:
            raise KeyBindingError(Code.CERT_MALFORMED, f"duplicate {label} SAN index {index:02d}")
        chunks[index] = first[2:]
    if not chunks:
        raise KeyBindingError(Code.CERT_MALFORMED, f"certificate has no .{label}. SANs")
    if sorted(chunks) != list(range(len(chunks))):
        raise KeyBindingError(
            Code.CERT_MALFORMED, f"{label} SAN indices are not 00..{len(chunks) - 1:02d}"
        )
    text = "".join(chunks[i] for i in range(len(chunks))).upper()
    text += "=" * (-len(text) % 8)
    try:
        return base64.b32decode(text)
    except (binascii.Error, ValueError) as exc:
        raise KeyBindingError(Code.CERT_MALFORMED, f"{label} SANs are not base32") from exc


def verify_enclave_certificate(
    cert_pem: str, *, domain: str, keys: AttestedKeys, document_hash: str
) -> None:
    """Bind the enclave TLS certificate to the verified report (V6, docs/protocol.md §2.3).

    Checks, in order: the PEM parses and has DNS SANs; one SAN covers ``domain``; the hpke
    SANs decode to the attested HPKE key; the hatt SANs decode to the document hash; and
    sha256(SPKI) equals REPORT_DATA[0:32]. Raises :class:`KeyBindingError`.
    """
    if len(cert_pem) > MAX_CERT_PEM:
        raise KeyBindingError(Code.CERT_MALFORMED, "enclave certificate PEM is too large")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise KeyBindingError(
            Code.CERT_MALFORMED, "enclave certificate or its SANs do not parse"
        ) from exc
    sans = [str(n) for n in san_ext.value.get_values_for_type(x509.DNSName)]
    if not sans:
        raise KeyBindingError(Code.CERT_MALFORMED, "enclave certificate has no DNS SANs")
    if not any(_covers(s, domain) for s in sans):
        raise KeyBindingError(Code.CERT_DOMAIN_MISMATCH, f"no certificate SAN covers {domain!r}")
    if not hmac.compare_digest(decode_dcode(sans, "hpke", domain), keys.hpke_public_key):
        raise KeyBindingError(
            Code.CERT_HPKE_KEY_MISMATCH, "certificate hpke SANs differ from report_data[32:64]"
        )
    if not hmac.compare_digest(decode_dcode(sans, "hatt", domain), document_hash.encode()):
        raise KeyBindingError(
            Code.CERT_ATTESTATION_HASH_MISMATCH,
            "certificate hatt SANs differ from sha256(format+body)",
        )
    if not hmac.compare_digest(spki_sha256(cert), keys.tls_key_fingerprint):
        raise KeyBindingError(
            Code.TLS_KEY_BINDING_MISMATCH,
            "sha256(SPKI of enclaveCert) differs from report_data[0:32]",
        )


__all__ = [
    "HPKE_KEY_SIZE",
    "REPORT_DATA_SIZE",
    "AttestedKeys",
    "check_offered_hpke_key",
    "decode_dcode",
    "parse_hpke_public_key",
    "spki_sha256",
    "split_report_data",
    "verify_enclave_certificate",
]
