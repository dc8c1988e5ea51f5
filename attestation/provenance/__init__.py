"""Sigstore code provenance: verify a release's DSSE bundle and extract its measurement.

Public API:

* :func:`verify_provenance` — code-measurement bundle → :class:`Provenance`;
* :func:`verify_hardware_measurements_bundle` — TDX platform-table bundle →
  ``list[HardwarePlatform]`` (docs/attestation.md V4.3);
* :class:`SigstorePolicy`, :data:`ANY`, :class:`SigstoreTrust`.

All functions are synchronous and CPU-bound: call them via ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass

from attestation.errors import Code, ProvenanceError
from attestation.hardware_measurements import HardwarePlatform, platforms_from_predicate
from attestation.models import HARDWARE_MEASUREMENTS_V1, SNP_TDX_MULTIPLATFORM_V1, Measurement
from attestation.provenance.policy import ANY, SigstorePolicy
from attestation.provenance.predicate import multiplatform_measurement
from attestation.provenance.trust import SigstoreTrust
from attestation.provenance.verify import VerifiedStatement, verify_statement


@dataclass(frozen=True, slots=True)
class Provenance:
    """What a verified code-provenance bundle proves."""

    measurement: Measurement
    predicate_type: str
    repository: str
    workflow_ref: str
    oidc_issuer: str
    signer_uri: str | None
    digest: str
    subject_name: str | None
    statement_type: str
    rekor_log_id_hex: str
    integrated_time: int | None
    tlog_entry_count: int
    sct_count: int


def provenance_from(verified: VerifiedStatement) -> Provenance:
    """Extract the code measurement from a verified statement (PREDICATE_* codes)."""
    predicate_type = verified.statement.predicate_type
    if predicate_type != SNP_TDX_MULTIPLATFORM_V1:
        raise ProvenanceError(
            Code.PREDICATE_TYPE_NOT_ALLOWED,
            f"no code measurement can be extracted from predicate type {predicate_type!r}",
        )
    ident = verified.identity
    # check_identity guarantees these three are present and matched the policy.
    assert ident.repository is not None
    assert ident.workflow_ref is not None
    assert ident.oidc_issuer is not None
    return Provenance(
        measurement=multiplatform_measurement(verified.statement.predicate),
        predicate_type=predicate_type,
        repository=ident.repository,
        workflow_ref=ident.workflow_ref,
        oidc_issuer=ident.oidc_issuer,
        signer_uri=ident.build_signer_uri,
        digest=verified.digest,
        subject_name=verified.subject_name,
        statement_type=verified.statement.type,
        rekor_log_id_hex=verified.rekor_log_id_hex,
        integrated_time=verified.integrated_time,
        tlog_entry_count=verified.tlog_entry_count,
        sct_count=verified.sct_count,
    )


def verify_provenance(
    bundle_json: bytes, *, expected_digest: str, policy: SigstorePolicy, trust: SigstoreTrust
) -> Provenance:
    """Verify a code-measurement release bundle for ``expected_digest`` (V4.2).

    Raises :class:`attestation.errors.ProvenanceError` (or ``TrustError`` for a root the
    library refuses) with a stable code; returns only when every check passed.
    """
    verified = verify_statement(
        bundle_json, expected_digest=expected_digest, policy=policy, trust=trust
    )
    return provenance_from(verified)


def verify_hardware_measurements_bundle(
    bundle_json: bytes, *, expected_digest: str, policy: SigstorePolicy, trust: SigstoreTrust
) -> list[HardwarePlatform]:
    """Verify a ``tinfoilsh/hardware-measurements`` release bundle; return its platforms.

    Use ``SigstorePolicy.hardware_measurements()``. The predicate type must be the
    hardware-measurements URI whatever the policy allowlist says.
    """
    verified = verify_statement(
        bundle_json, expected_digest=expected_digest, policy=policy, trust=trust
    )
    if verified.statement.predicate_type != HARDWARE_MEASUREMENTS_V1:
        raise ProvenanceError(
            Code.PREDICATE_TYPE_NOT_ALLOWED,
            f"expected a {HARDWARE_MEASUREMENTS_V1} predicate, got "
            f"{verified.statement.predicate_type!r}",
        )
    return platforms_from_predicate(verified.statement.predicate, verified.digest)


__all__ = [
    "ANY",
    "Provenance",
    "SigstorePolicy",
    "SigstoreTrust",
    "VerifiedStatement",
    "provenance_from",
    "verify_hardware_measurements_bundle",
    "verify_provenance",
    "verify_statement",
]
