"""Signer identity from Fulcio certificate extensions (docs/attestation.md V4.2 step 6).

sigstore-python's built-in policies cannot express what Tinfoil requires, so this is ours:

* OIDC issuer: the V2 extension ``1.3.6.1.4.1.57264.1.8`` (DER UTF8String) wins; the
  deprecated V1 ``…1.1`` (raw bytes) is read only when V2 is absent (fixtures 069/069b).
* GitHubWorkflowRepository ``…1.5`` (raw bytes): exact match with ``owner/repo``.
* GitHubWorkflowRef ``…1.6`` (raw bytes): must *start with* the policy prefix; never the SAN
  or BuildSignerURI ``…1.9`` (which is read for display only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography import x509

from attestation.errors import Code, ProvenanceError
from attestation.provenance.policy import SigstorePolicy
from attestation.x509ext import UndecodableExtensionError, raw_extension

_FULCIO: Final = "1.3.6.1.4.1.57264.1."
OID_ISSUER_V1: Final = x509.ObjectIdentifier(_FULCIO + "1")
OID_WORKFLOW_REPOSITORY: Final = x509.ObjectIdentifier(_FULCIO + "5")
OID_WORKFLOW_REF: Final = x509.ObjectIdentifier(_FULCIO + "6")
OID_ISSUER_V2: Final = x509.ObjectIdentifier(_FULCIO + "8")
OID_BUILD_SIGNER_URI: Final = x509.ObjectIdentifier(_FULCIO + "9")
_UTF8STRING_TAG: Final = 0x0C


@dataclass(frozen=True, slots=True)
class SignerIdentity:
    """What the certificate says about who signed; ``None`` where the extension is absent."""

    oidc_issuer: str | None
    repository: str | None
    workflow_ref: str | None
    build_signer_uri: str | None


def _text(raw: bytes | None) -> str | None:
    """Deprecated Fulcio extensions hold the UTF-8 string itself, not DER."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UndecodableExtensionError("extension value is not UTF-8") from exc


def _der_utf8(raw: bytes | None) -> str | None:
    """Newer Fulcio extensions hold a DER UTF8String; reject anything else or trailing bytes."""
    if raw is None:
        return None
    if len(raw) < 2 or raw[0] != _UTF8STRING_TAG:
        raise UndecodableExtensionError("extension value is not a DER UTF8String")
    first = raw[1]
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or len(raw) < 2 + count:
            raise UndecodableExtensionError("bad DER length")
        length, start = int.from_bytes(raw[2 : 2 + count], "big"), 2 + count
        if length < 0x80:
            raise UndecodableExtensionError("non-minimal DER length")
    if start + length != len(raw):
        raise UndecodableExtensionError("DER length does not cover the value exactly")
    return _text(raw[start:])


def _read(cert: x509.Certificate, oid: x509.ObjectIdentifier, der: bool, code: Code) -> str | None:
    try:
        raw = raw_extension(cert, oid)
        return _der_utf8(raw) if der else _text(raw)
    except UndecodableExtensionError as exc:
        raise ProvenanceError(code, f"certificate extension {oid.dotted_string}: {exc}") from exc


def signer_identity(cert: x509.Certificate) -> SignerIdentity:
    """Read the identity extensions (undecodable values reject with the field's code)."""
    issuer = _read(cert, OID_ISSUER_V2, True, Code.OIDC_ISSUER_MISMATCH)
    if issuer is None:
        issuer = _read(cert, OID_ISSUER_V1, False, Code.OIDC_ISSUER_MISMATCH)
    try:
        signer_uri = _der_utf8(raw_extension(cert, OID_BUILD_SIGNER_URI))
    except UndecodableExtensionError:
        signer_uri = None  # display only; never part of a decision
    return SignerIdentity(
        oidc_issuer=issuer,
        repository=_read(cert, OID_WORKFLOW_REPOSITORY, False, Code.WORKFLOW_REPOSITORY_MISMATCH),
        workflow_ref=_read(cert, OID_WORKFLOW_REF, False, Code.WORKFLOW_REF_PREFIX_MISMATCH),
        build_signer_uri=signer_uri,
    )


def check_identity(cert: x509.Certificate, policy: SigstorePolicy) -> SignerIdentity:
    """Apply the identity policy; return the identity on success."""
    ident = signer_identity(cert)
    if ident.oidc_issuer != policy.oidc_issuer:
        raise ProvenanceError(
            Code.OIDC_ISSUER_MISMATCH,
            f"OIDC issuer {ident.oidc_issuer!r} is not {policy.oidc_issuer!r}",
        )
    if ident.repository != policy.repository:
        raise ProvenanceError(
            Code.WORKFLOW_REPOSITORY_MISMATCH,
            f"workflow repository {ident.repository!r} is not {policy.repository!r}",
        )
    if ident.workflow_ref is None or not ident.workflow_ref.startswith(policy.workflow_ref_prefix):
        raise ProvenanceError(
            Code.WORKFLOW_REF_PREFIX_MISMATCH,
            f"workflow ref {ident.workflow_ref!r} does not start with "
            f"{policy.workflow_ref_prefix!r}",
        )
    return ident


class LibraryIdentityPolicy:
    """Duck-typed ``sigstore`` ``VerificationPolicy`` re-applying :func:`check_identity`.

    The explicit check already ran before the library; this keeps the library call itself
    from ever verifying under a weaker (no-op) policy. A failure propagates as our own
    :class:`ProvenanceError` with its code.
    """

    def __init__(self, policy: SigstorePolicy) -> None:
        self._policy = policy

    def verify(self, cert: x509.Certificate) -> None:
        """Raise unless ``cert`` satisfies the identity policy."""
        check_identity(cert, self._policy)


def der_utf8_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """A Fulcio extension holding a DER UTF8String (``None`` when absent).

    Raises :class:`UndecodableExtensionError` when present but not exactly one UTF8String.
    """
    return _der_utf8(raw_extension(cert, oid))


__all__ = [
    "OID_BUILD_SIGNER_URI",
    "OID_ISSUER_V1",
    "OID_ISSUER_V2",
    "OID_WORKFLOW_REF",
    "OID_WORKFLOW_REPOSITORY",
    "LibraryIdentityPolicy",
    "SignerIdentity",
    "check_identity",
    "der_utf8_extension",
    "signer_identity",
]
