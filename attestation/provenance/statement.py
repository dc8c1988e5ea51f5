"""The in-toto statement inside the DSSE payload (docs/attestation.md V4.2 step 11).

Parsed strictly with pydantic: only ``_type``, ``subject``, ``predicateType`` and
``predicate`` are allowed at top level (an unknown field is BUNDLE_MALFORMED, fixture 074).
Policy checks follow in a fixed order: statement type, subject[0] (only), predicate type.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attestation.errors import Code, ProvenanceError
from attestation.provenance.policy import SigstorePolicy, allows


class Subject(BaseModel):
    """An in-toto ResourceDescriptor; only ``digest.sha256`` of subject[0] is checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = None
    uri: str | None = None
    digest: dict[str, str] | None = None
    content: str | None = None
    download_location: str | None = Field(default=None, alias="downloadLocation")
    media_type: str | None = Field(default=None, alias="mediaType")
    annotations: dict[str, Any] | None = None


class Statement(BaseModel):
    """An in-toto Statement (v1 / v0.1 share these four fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    type: str = Field(alias="_type")
    subject: tuple[Subject, ...] = ()
    predicate_type: str = Field(alias="predicateType")
    predicate: Any = None


def parse_statement(payload: bytes) -> Statement:
    """Parse the DSSE payload bytes as a strict in-toto statement (BUNDLE_MALFORMED)."""
    try:
        return Statement.model_validate_json(payload)
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise ProvenanceError(
            Code.BUNDLE_MALFORMED, f"in-toto statement is malformed (fields {fields})"
        ) from exc


def check_statement(statement: Statement, policy: SigstorePolicy, expected_digest: str) -> Subject:
    """Statement type, subject[0] digest, predicate type; return subject[0]."""
    if not allows(policy.in_toto_statement_types_allowed, statement.type):
        raise ProvenanceError(
            Code.IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED,
            f"in-toto statement type {statement.type!r} is not allowed",
        )
    if not statement.subject:
        raise ProvenanceError(Code.SUBJECT_MISSING, "in-toto statement has no subject")
    first = statement.subject[0]  # V4.2 step 11: only the first subject is checked (073)
    digest = (first.digest or {}).get("sha256")
    if digest is None:
        raise ProvenanceError(Code.SUBJECT_MISSING, "subject[0] has no sha256 digest")
    if digest.lower() != expected_digest.lower():
        raise ProvenanceError(
            Code.SUBJECT_DIGEST_MISMATCH,
            f"subject[0] digest {digest.lower()} is not the expected {expected_digest.lower()}",
        )
    if not allows(policy.predicate_types_allowed, statement.predicate_type):
        raise ProvenanceError(
            Code.PREDICATE_TYPE_NOT_ALLOWED,
            f"predicate type {statement.predicate_type!r} is not allowed",
        )
    return first


__all__ = ["Statement", "Subject", "check_statement", "parse_statement"]
