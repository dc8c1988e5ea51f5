"""Explicit checks on the Fulcio signing certificate (docs/attestation.md V4.2 steps 3-5, 8).

These run before the ``sigstore`` library so that each failure gets its own code:
CERT_EXPIRED (signing time outside the leaf's validity), FULCIO_CHAIN_INVALID (no trusted CA
issued the leaf at that time, or the leaf lacks the code-signing profile), SCT_DUPLICATE_LOG
and SCT_INSUFFICIENT (embedded SCTs). The library repeats the full path validation later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.certificate_transparency import (
    LogEntryType,
    SignedCertificateTimestamp,
)
from cryptography.x509.oid import ExtendedKeyUsageOID

from attestation.errors import Code, ProvenanceError
from attestation.provenance.sigcrypto import signature_valid
from attestation.provenance.trust import CertificateAuthority, TrustMaterial

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _within(when: dt.datetime, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    return (start is None or start <= when) and (end is None or when <= end)


def check_validity_at(leaf: x509.Certificate, signing_times: list[int]) -> None:
    """Every established signing time lies inside the leaf's validity window (CERT_EXPIRED)."""
    for ts in signing_times:
        when = _utc(ts)
        if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
            raise ProvenanceError(
                Code.CERT_EXPIRED,
                f"signing time {when.isoformat()} is outside the certificate validity "
                f"{leaf.not_valid_before_utc.isoformat()}..{leaf.not_valid_after_utc.isoformat()}",
            )


def _issued_by(leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    if leaf.issuer != issuer.subject:
        return False
    try:
        leaf.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def find_issuing_ca(
    leaf: x509.Certificate, material: TrustMaterial, signing_times: list[int]
) -> CertificateAuthority:
    """The trusted Fulcio CA that issued ``leaf`` and was valid at every signing time."""
    if not material.certificate_authorities:
        raise ProvenanceError(Code.FULCIO_CHAIN_INVALID, "trust root has no Fulcio CA")
    times = [_utc(ts) for ts in signing_times]
    for ca in material.certificate_authorities:
        if not ca.chain or not _issued_by(leaf, ca.chain[0]):
            continue
        in_window = all(_within(t, ca.valid_from, ca.valid_until) for t in times)
        certs_valid = all(
            _within(t, c.not_valid_before_utc, c.not_valid_after_utc)
            for t in times
            for c in ca.chain
        )
        if in_window and certs_valid:
            return ca
    raise ProvenanceError(
        Code.FULCIO_CHAIN_INVALID, "signing certificate was not issued by a trusted Fulcio CA"
    )


def check_code_signing_profile(leaf: x509.Certificate) -> None:
    """KeyUsage digitalSignature and ExtendedKeyUsage codeSigning (V4.2 step 5)."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise ProvenanceError(
            Code.FULCIO_CHAIN_INVALID, "signing certificate lacks KeyUsage/ExtendedKeyUsage"
        ) from exc
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise ProvenanceError(
            Code.FULCIO_CHAIN_INVALID, "signing certificate is not a code-signing certificate"
        )


def embedded_scts(leaf: x509.Certificate) -> list[SignedCertificateTimestamp]:
    """The leaf's embedded SCTs ([] when the extension is absent)."""
    try:
        ext = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
    except x509.ExtensionNotFound:
        return []
    return list(ext.value)


def _digitally_signed(
    sct: SignedCertificateTimestamp, leaf: x509.Certificate, issuer_key_hash: bytes
) -> bytes:
    # RFC 6962 §3.2: the precert_entry signed struct over the TBS without the SCT extension.
    tbs = leaf.tbs_precertificate_bytes
    millis = (sct.timestamp.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)
    return (
        struct.pack("!BBQH", sct.version.value, 0, millis, LogEntryType.PRE_CERTIFICATE.value)
        + issuer_key_hash
        + len(tbs).to_bytes(3, "big")
        + tbs
        + struct.pack("!H", len(sct.extension_bytes))
        + sct.extension_bytes
    )


def check_scts(leaf: x509.Certificate, issuer: x509.Certificate, material: TrustMaterial) -> int:
    """Check the embedded SCTs; return how many there are (all verified).

    Order: duplicate log ids (SCT_DUPLICATE_LOG) before counting, then the count, then every
    SCT's signature under a trusted CT log key (SCT_INSUFFICIENT). sigstore-python verifies
    exactly one SCT, so more than one is also SCT_INSUFFICIENT rather than a library surprise.
    """
    scts = embedded_scts(leaf)
    log_ids = [s.log_id for s in scts]
    if len(set(log_ids)) != len(log_ids):
        raise ProvenanceError(Code.SCT_DUPLICATE_LOG, "two SCTs from the same CT log")
    if len(scts) != 1:
        raise ProvenanceError(
            Code.SCT_INSUFFICIENT, f"expected exactly one embedded SCT, found {len(scts)}"
        )
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issuer_key_hash = hashlib.sha256(spki).digest()
    for sct in scts:
        log = material.ct_key(sct.log_id)
        if log is None:
            raise ProvenanceError(Code.SCT_INSUFFICIENT, "SCT from a CT log the trust root lacks")
        # cryptography only parses v1 SCTs; Fulcio SCTs are precertificate entries.
        if sct.entry_type != LogEntryType.PRE_CERTIFICATE or not isinstance(
            sct.signature_hash_algorithm, hashes.SHA256
        ):
            raise ProvenanceError(Code.SCT_INSUFFICIENT, "unsupported SCT form")
        signed = _digitally_signed(sct, leaf, issuer_key_hash)
        if not signature_valid(log.key, sct.signature, signed):
            raise ProvenanceError(Code.SCT_INSUFFICIENT, "SCT signature does not verify")
    return len(scts)


__all__ = [
    "check_code_signing_profile",
    "check_scts",
    "check_validity_at",
    "embedded_scts",
    "find_issuing_ca",
]
