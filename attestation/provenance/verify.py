"""Sigstore code-provenance verification, orchestrated (docs/attestation.md V4.2).

Order (each step raises :class:`ProvenanceError` with its own code):

1. structure (bundle.py): BUNDLE_MALFORMED, TLOG_COUNT_OUT_OF_RANGE;
2. signing-time sources: OBSERVER_TIMESTAMP_INSUFFICIENT;
3. certificate (certificate.py): CERT_EXPIRED, FULCIO_CHAIN_INVALID, SCT_DUPLICATE_LOG,
   SCT_INSUFFICIENT; identity (identity.py): OIDC_ISSUER_MISMATCH,
   WORKFLOW_REPOSITORY_MISMATCH, WORKFLOW_REF_PREFIX_MISMATCH;
4. every tlog entry (rekor.py): REKOR_KEY_NOT_TRUSTED, REKOR_INCLUSION_INVALID,
   CHECKPOINT_ROOT_MISMATCH;
5. DSSE signature (dsse.py): DSSE_SIGNATURE_INVALID; then each entry body records this
   envelope (rekor.py): REKOR_INCLUSION_INVALID;
6. ``sigstore`` ``Verifier.verify_dsse`` once per tlog entry, as the cryptographic
   authority. Our checks above are designed to be a superset of its checks, so a failure
   here is one we could not attribute: it maps by *phase*, never by message text
   (``CertValidationError`` → FULCIO_CHAIN_INVALID, anything else →
   DSSE_SIGNATURE_INVALID, "the signed bundle did not verify");
7. Tinfoil layer (statement.py): PAYLOAD_TYPE_MISMATCH, BUNDLE_MALFORMED,
   IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED, SUBJECT_MISSING, SUBJECT_DIGEST_MISMATCH,
   PREDICATE_TYPE_NOT_ALLOWED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from attestation.errors import Code, ProvenanceError, TrustError
from attestation.provenance import bundle as bundle_mod
from attestation.provenance.certificate import (
    check_code_signing_profile,
    check_scts,
    check_validity_at,
    find_issuing_ca,
)
from attestation.provenance.dsse import check_dsse_signature
from attestation.provenance.identity import LibraryIdentityPolicy, SignerIdentity, check_identity
from attestation.provenance.policy import SigstorePolicy
from attestation.provenance.rekor import check_entry_body, check_tlog_entry
from attestation.provenance.statement import Statement, check_statement, parse_statement
from attestation.provenance.trust import SigstoreTrust


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """An in-toto statement whose Sigstore bundle passed every check, plus observables."""

    statement: Statement
    identity: SignerIdentity
    digest: str  # lowercase hex of subject[0].digest.sha256
    subject_name: str | None
    rekor_log_id_hex: str
    integrated_time: int | None
    tlog_entry_count: int
    sct_count: int


def _signing_times(parsed: bundle_mod.ParsedBundle, policy: SigstorePolicy) -> list[int]:
    times = [t for e in parsed.tlog_entries if (t := e.observed_time) is not None]
    sources = len(times) + parsed.rfc3161_timestamp_count
    if sources < policy.observer_timestamps_min:
        raise ProvenanceError(
            Code.OBSERVER_TIMESTAMP_INSUFFICIENT,
            f"{sources} verifiable signing-time source(s), need {policy.observer_timestamps_min}",
        )
    return times


def _library_verify(
    parsed: bundle_mod.ParsedBundle, policy: SigstorePolicy, trust: SigstoreTrust
) -> None:
    """Run ``sigstore`` on the bundle, once per tlog entry (it accepts exactly one)."""
    try:
        verifier = trust.verifier()
    except Exception as exc:  # library refuses the root: no explicit check explained it
        raise TrustError(
            Code.TRUST_ROOT_INVALID, f"sigstore rejects the trusted root ({type(exc).__name__})"
        ) from exc
    from sigstore.errors import CertValidationError
    from sigstore.models import Bundle

    identity_policy = LibraryIdentityPolicy(policy)
    for entry in parsed.tlog_entries:
        single: dict[str, Any] = dict(parsed.raw)
        material = dict(parsed.raw["verificationMaterial"])
        material["tlogEntries"] = [entry.raw]
        single["verificationMaterial"] = material
        try:
            lib_bundle = Bundle.from_json(json.dumps(single))
        except Exception as exc:
            raise ProvenanceError(
                Code.BUNDLE_MALFORMED, f"sigstore cannot load the bundle ({type(exc).__name__})"
            ) from exc
        try:
            payload_type, payload = verifier.verify_dsse(lib_bundle, identity_policy)
        except ProvenanceError:
            raise
        except CertValidationError as exc:
            raise ProvenanceError(
                Code.FULCIO_CHAIN_INVALID, "sigstore path validation of the certificate failed"
            ) from exc
        except Exception as exc:
            raise ProvenanceError(
                Code.DSSE_SIGNATURE_INVALID,
                f"sigstore rejected the bundle ({type(exc).__name__}) for a reason no explicit "
                "check isolated",
            ) from exc
        if payload_type != parsed.envelope.payload_type or payload != parsed.envelope.payload:
            raise ProvenanceError(Code.BUNDLE_MALFORMED, "sigstore verified a different payload")


def verify_statement(
    bundle_json: bytes,
    *,
    expected_digest: str,
    policy: SigstorePolicy,
    trust: SigstoreTrust,
    parsed: bundle_mod.ParsedBundle | None = None,
) -> VerifiedStatement:
    """Verify a Sigstore DSSE bundle and its in-toto statement (not the predicate body).

    ``parsed`` is ``bundle_mod.parse_bundle(bundle_json)`` when the caller already has it
    (the entry-count bounds of ``policy`` are still applied here).
    """
    if parsed is None:
        parsed = bundle_mod.parse_bundle(
            bundle_json,
            tlog_entries_min=policy.tlog_entries_min,
            tlog_entries_max=policy.tlog_entries_max,
        )
    else:
        bundle_mod.check_tlog_count(
            len(parsed.tlog_entries), policy.tlog_entries_min, policy.tlog_entries_max
        )
    times = _signing_times(parsed, policy)
    material = trust.material
    check_validity_at(parsed.leaf, times)
    ca = find_issuing_ca(parsed.leaf, material, times)
    sct_count = check_scts(parsed.leaf, ca.chain[0], material)
    check_code_signing_profile(parsed.leaf)
    identity = check_identity(parsed.leaf, policy)
    for entry in parsed.tlog_entries:
        check_tlog_entry(entry, material)
    check_dsse_signature(parsed.envelope, parsed.leaf)
    for entry in parsed.tlog_entries:
        check_entry_body(entry, parsed.envelope, parsed.leaf)
    _library_verify(parsed, policy, trust)

    # Tinfoil layer: only now is the payload authenticated (payload type after signature).
    if parsed.envelope.payload_type != policy.payload_type:
        raise ProvenanceError(
            Code.PAYLOAD_TYPE_MISMATCH,
            f"payload type {parsed.envelope.payload_type!r} is not {policy.payload_type!r}",
        )
    statement = parse_statement(parsed.envelope.payload)
    subject = check_statement(statement, policy, expected_digest)
    first = parsed.tlog_entries[0]
    return VerifiedStatement(
        statement=statement,
        identity=identity,
        digest=(subject.digest or {})["sha256"].lower(),
        subject_name=subject.name,
        rekor_log_id_hex=first.log_id.hex(),
        integrated_time=first.integrated_time,
        tlog_entry_count=len(parsed.tlog_entries),
        sct_count=sct_count,
    )


__all__ = ["VerifiedStatement", "verify_statement"]
