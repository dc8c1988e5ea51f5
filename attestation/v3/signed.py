"""One Sigstore-signed in-toto statement carried in a v3 document, verified offline.

The cryptography is the v2 provenance pipeline's (`attestation.provenance.verify_statement`:
explicit pre-checks, then sigstore-python as the authority). This module adds what v3
requires on top, and names every failure with a v3 code:

* format gates before any cryptography (media type, legacy certificate chain, one DSSE
  signature);
* an anchored SAN regex per signer, ``runner_environment == github-hosted``, and for tag
  releases the source ref ``refs/tags/<tag>`` and a 40-hex source commit from the
  certificate;
* the DSSE payload re-parsed strictly (duplicate names reject) with subject bounds;
* the earliest SET-bound transparency-log time, which freshness witnesses are judged by.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509

from attestation.errors import AttestationError, Code, ProvenanceError
from attestation.provenance import bundle as bundle_mod
from attestation.provenance.identity import der_utf8_extension
from attestation.provenance.policy import IN_TOTO_STATEMENT_V1, SigstorePolicy
from attestation.provenance.trust import SigstoreTrust
from attestation.provenance.verify import verify_statement
from attestation.v3 import strictjson
from attestation.v3.constants import MAX_DIGESTS_PER_SUBJECT, MAX_SUBJECTS, RUNNER_GITHUB_HOSTED
from attestation.x509ext import UndecodableExtensionError

_FULCIO: Final = "1.3.6.1.4.1.57264.1."
OID_RUNNER_ENVIRONMENT: Final = x509.ObjectIdentifier(_FULCIO + "11")
OID_SOURCE_DIGEST: Final = x509.ObjectIdentifier(_FULCIO + "13")
OID_SOURCE_REF: Final = x509.ObjectIdentifier(_FULCIO + "14")
_MEDIA_TYPES: Final = frozenset(
    {f"application/vnd.dev.sigstore.bundle+json;version=0.{n}" for n in (1, 2, 3)}
    | {f"application/vnd.dev.sigstore.bundle.v0.{n}+json" for n in (1, 2, 3)}
)
_COMMIT: Final = re.compile(r"[0-9a-f]{40}")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")

# v2 pipeline codes -> the v3 code for the same failure. Anything not listed is a failure of
# the signature/chain/log cryptography itself.
_IDENTITY_CODES: Final = frozenset(
    {
        Code.OIDC_ISSUER_MISMATCH,
        Code.WORKFLOW_REPOSITORY_MISMATCH,
        Code.WORKFLOW_REF_PREFIX_MISMATCH,
    }
)
_STATEMENT_CODES: Final = {
    Code.PAYLOAD_TYPE_MISMATCH: Code.V3_PROV_PAYLOAD_TYPE,
    Code.BUNDLE_MALFORMED: Code.V3_PROV_STATEMENT,
    Code.IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED: Code.V3_PROV_STATEMENT,
    Code.SUBJECT_MISSING: Code.V3_PROV_SUBJECT_DIGEST,
    Code.SUBJECT_DIGEST_MISMATCH: Code.V3_PROV_SUBJECT_DIGEST,
    Code.PREDICATE_TYPE_NOT_ALLOWED: Code.V3_PROV_PREDICATE,
    Code.SCT_DUPLICATE_LOG: Code.V3_PROV_SCT_DUPLICATE_LOG,
}


@dataclass(frozen=True, slots=True)
class Signer:
    """Who must have signed: the certificate identity rules for one kind of statement."""

    what: str  # "code", "platform", "code-freshness", ... for messages
    repository: str  # GitHubWorkflowRepository, exact
    san: re.Pattern[str]  # anchored; at least one SAN must match
    ref_prefix: str  # GitHubWorkflowRef prefix (the SAN regex is the exact rule)
    predicate_type: str
    tag_release: bool  # True: source ref must be refs/tags/<tag>, commit from the cert
    identity_code: Code = Code.V3_PROV_IDENTITY
    statement_code: Code | None = None  # overrides the statement-layer codes (witnesses)


@dataclass(frozen=True, slots=True)
class SignedStatement:
    """A verified statement: the strictly parsed payload and what the certificate proved."""

    statement: dict[str, Any]
    digest: str  # subject[0] sha256, lowercase
    subject_name: str
    tag: str | None  # from the certificate's source ref (tag releases only)
    commit: str | None
    log_time: int | None  # earliest SET-bound integrated time, unix seconds
    signer_uri: str


def san_pattern(repository: str, workflow: str, ref: str) -> re.Pattern[str]:
    """``^https://github.com/<repo>/.github/workflows/<workflow>@<ref>$`` (both are regexes)."""
    return re.compile(
        rf"https://github\.com/{re.escape(repository)}/\.github/workflows/{workflow}@{ref}"
    )


def _prov(code: Code, message: str) -> ProvenanceError:
    return ProvenanceError(code, message)


def _gates(bundle: object, what: str) -> bytes:
    if not isinstance(bundle, dict):
        raise _prov(Code.V3_PROV_COLLATERAL_PARSE, f"{what} sigstore_bundle is not an object")
    media_type = bundle.get("mediaType")
    if not isinstance(media_type, str) or media_type not in _MEDIA_TYPES:
        raise _prov(Code.V3_PROV_BUNDLE_MEDIA_TYPE, f"{what} bundle media type is unsupported")
    material = bundle.get("verificationMaterial")
    if isinstance(material, dict) and "x509CertificateChain" in material:
        raise _prov(Code.V3_PROV_BUNDLE_LEGACY, f"{what} bundle uses x509CertificateChain")
    envelope = bundle.get("dsseEnvelope")
    signatures = envelope.get("signatures") if isinstance(envelope, dict) else None
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise _prov(Code.V3_PROV_DSSE_SIGNATURE_COUNT, f"{what} DSSE needs exactly one signature")
    # Duplicates were already refused by the strict document parser, so this encoding has
    # exactly the members that were received.
    return json.dumps(bundle, separators=(",", ":")).encode()


def _san_values(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    values: list[str] = []
    for kind in (x509.UniformResourceIdentifier, x509.DNSName, x509.RFC822Name):
        values.extend(str(v) for v in san.get_values_for_type(kind))
    return values


def _cert_text(cert: x509.Certificate, oid: x509.ObjectIdentifier, signer: Signer) -> str | None:
    try:
        return der_utf8_extension(cert, oid)
    except UndecodableExtensionError as exc:
        raise _prov(signer.identity_code, f"{signer.what}: extension {oid.dotted_string}") from exc


def _check_certificate(
    cert: x509.Certificate, signer: Signer, tag: str
) -> tuple[str, str | None, str | None]:
    uris = [v for v in _san_values(cert) if signer.san.fullmatch(v)]
    if not uris:
        raise _prov(signer.identity_code, f"{signer.what}: no SAN matches the expected workflow")
    if _cert_text(cert, OID_RUNNER_ENVIRONMENT, signer) != RUNNER_GITHUB_HOSTED:
        raise _prov(signer.identity_code, f"{signer.what}: not built on a GitHub-hosted runner")
    if not signer.tag_release:
        return uris[0], None, None
    ref = _cert_text(cert, OID_SOURCE_REF, signer) or ""
    if not ref.startswith("refs/tags/") or len(ref) == len("refs/tags/"):
        raise _prov(Code.V3_PROV_SOURCE_REF, f"{signer.what}: source ref {ref!r} is not a tag")
    cert_tag = ref.removeprefix("refs/tags/")
    if tag and tag != cert_tag:
        raise _prov(Code.V3_PROV_SOURCE_REF, f"{signer.what}: tag {tag!r} is not {cert_tag!r}")
    commit = _cert_text(cert, OID_SOURCE_DIGEST, signer) or ""
    if not _COMMIT.fullmatch(commit):
        raise _prov(Code.V3_PROV_SOURCE_REF, f"{signer.what}: source commit is not 40 hex")
    return uris[0], cert_tag, commit


def _statement(payload: bytes, signer: Signer) -> tuple[dict[str, Any], str]:
    code = signer.statement_code or Code.V3_PROV_STATEMENT
    try:
        statement = strictjson.loads(payload, what="statement", allow_decimal=True)
    except AttestationError as exc:
        raise _prov(code, f"{signer.what}: statement is not strict JSON ({exc.code})") from exc
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or not subjects or len(subjects) > MAX_SUBJECTS:
        raise _prov(code, f"{signer.what}: statement subjects missing or too many")
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digests, dict) or len(digests) > MAX_DIGESTS_PER_SUBJECT:
            raise _prov(code, f"{signer.what}: subject digests missing or too many")
        if not all(isinstance(d, str) and _HEX.fullmatch(d) for d in digests.values()):
            raise _prov(code, f"{signer.what}: a subject digest is not hex")
    name = subjects[0].get("name")
    if not isinstance(name, str) or not name:
        raise _prov(
            Code.V3_PROV_SOURCE_REF if signer.statement_code is None else code,
            f"{signer.what}: subject[0] has no name",
        )
    assert isinstance(statement, dict)
    return statement, name


def verify_signed(
    bundle: object, *, signer: Signer, digest: str, tag: str, trust: SigstoreTrust
) -> SignedStatement:
    """Verify ``bundle`` (the JSON object from the document) for subject ``digest``."""
    data = _gates(bundle, signer.what)
    try:
        parsed = bundle_mod.parse_bundle(data)
    except ProvenanceError as exc:
        raise _prov(Code.V3_PROV_COLLATERAL_PARSE, f"{signer.what}: {exc.message}") from exc
    policy = SigstorePolicy(
        repository=signer.repository,
        workflow_ref_prefix=signer.ref_prefix,
        predicate_types_allowed=(signer.predicate_type,),
        in_toto_statement_types_allowed=(IN_TOTO_STATEMENT_V1,),
    )
    try:
        verified = verify_statement(
            data, expected_digest=digest, policy=policy, trust=trust, parsed=parsed
        )
    except ProvenanceError as exc:
        if exc.code in _IDENTITY_CODES:
            code = signer.identity_code
        elif exc.code in _STATEMENT_CODES:
            code = _STATEMENT_CODES[exc.code]
            if signer.statement_code is not None and code is not Code.V3_PROV_SCT_DUPLICATE_LOG:
                code = signer.statement_code
        else:
            code = Code.V3_PROV_SIGSTORE_VERIFY
        raise _prov(code, f"{signer.what}: {exc.code.value}: {exc.message}") from exc
    uri, cert_tag, commit = _check_certificate(parsed.leaf, signer, tag)
    statement, name = _statement(parsed.envelope.payload, signer)
    times = [t for e in parsed.tlog_entries if (t := e.observed_time) is not None]
    return SignedStatement(
        statement=statement,
        digest=verified.digest,
        subject_name=name,
        tag=cert_tag,
        commit=commit,
        log_time=min(times) if times else None,
        signer_uri=uri,
    )


__all__ = ["SignedStatement", "Signer", "san_pattern", "verify_signed"]
