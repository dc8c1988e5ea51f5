"""Conformance stage ``verify-sigstore`` (docs/attestation.md V4 and "Conformance CLI").

Input per ``verify-sigstore.input.schema.json``; outputs per the output schema. The inline
``trust_root_b64`` is always used (no embedded fallback in this stage).
"""

from __future__ import annotations

import re
from typing import Any, Final

from attestation.conformance.base import MalformedInput, RejectionContract, Unsupported, b64_field
from attestation.models import HARDWARE_MEASUREMENTS_V1, SNP_TDX_MULTIPLATFORM_V1
from attestation.provenance import provenance_from
from attestation.provenance.policy import ANY, Allowlist, SigstorePolicy
from attestation.provenance.trust import SigstoreTrust
from attestation.provenance.verify import verify_statement

STAGE: Final = "verify-sigstore"

REJECTION: Final = RejectionContract(
    codes=frozenset(
        {
            "BUNDLE_MALFORMED",
            "DSSE_SIGNATURE_INVALID",
            "FULCIO_CHAIN_INVALID",
            "CERT_EXPIRED",
            "SCT_INSUFFICIENT",
            "SCT_DUPLICATE_LOG",
            "TLOG_COUNT_OUT_OF_RANGE",
            "REKOR_INCLUSION_INVALID",
            "REKOR_KEY_NOT_TRUSTED",
            "CHECKPOINT_ROOT_MISMATCH",
            "OBSERVER_TIMESTAMP_INSUFFICIENT",
            "OIDC_ISSUER_MISMATCH",
            "WORKFLOW_REPOSITORY_MISMATCH",
            "WORKFLOW_REF_PREFIX_MISMATCH",
            "PAYLOAD_TYPE_MISMATCH",
            "IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED",
            "PREDICATE_TYPE_NOT_ALLOWED",
            "SUBJECT_DIGEST_MISMATCH",
            "SUBJECT_MISSING",
            "PREDICATE_MEASUREMENT_INVALID",
            "TRUST_ROOT_INVALID",
        }
    ),
    message=True,
    aliases={"CERT_MALFORMED": "BUNDLE_MALFORMED"},
)

CAPABILITIES: Final[dict[str, object]] = {
    "sigstore": {
        "trust_root_loading": "configurable",
        # sigstore-python takes the signing time from the bundle (integrated time / TSA);
        # verification_time_unix is validated but not used.
        "verification_time_override": "bundle-supplied-only",
        "policy_fields_configurable": {
            "oidc_issuer": True,
            "workflow_ref_prefix": True,
            "workflow_repository": True,
            "predicate_types_allowed": True,
            "in_toto_statement_types_allowed": True,
            "payload_type": True,
            "tlog_entries_min": True,
            "tlog_entries_max": True,
            "sct_min": False,  # exactly one SCT, as sigstore-python verifies (else exit 20)
            "observer_timestamps_min": True,
        },
        "predicate_types_understood": [SNP_TDX_MULTIPLATFORM_V1, HARDWARE_MEASUREMENTS_V1],
        "legacy_bundle_format_supported": False,
        # each entry is verified on its own by sigstore-python (which takes exactly one)
        "accepts_multi_tlog_entries": True,
        "oidc_issuer_v2_preferred": True,
        "scts_count_distinguish_missing_vs_duplicate": True,
        "rejects_duplicate_sct_log": True,
        "checks_only_subject_0": True,
        "in_toto_statement_tolerates_extra_fields": False,
    }
}

_INPUT_KEYS: Final = frozenset(
    {
        "schema_version",
        "bundle_b64",
        "expected_digest_sha256_hex",
        "repo",
        "policy",
        "trust_root_b64",
        "verification_time_unix",
    }
)
_POLICY_KEYS: Final = frozenset(
    {
        "oidc_issuer",
        "workflow_ref_prefix",
        "predicate_types_allowed",
        "in_toto_statement_types_allowed",
        "payload_type",
        "tlog_entries_min",
        "tlog_entries_max",
        "sct_min",
        "observer_timestamps_min",
    }
)
_DIGEST: Final = re.compile(r"[0-9a-fA-F]{64}")
_REPO: Final = re.compile(r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+")


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise MalformedInput(f"{name} must be a string")
    return value


def _allowlist(value: object, name: str) -> Allowlist:
    if value is None:
        return ANY  # schema: null = any
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedInput(f"{name} must be null or a list of strings")
    return tuple(value)


def _count(value: object, name: str, default: int | None, *, nullable: bool = False) -> int | None:
    if value is None:
        if nullable:
            return None
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedInput(f"{name} must be a non-negative integer")
    return value


def _policy(raw: object, repo: str) -> SigstorePolicy:
    if not isinstance(raw, dict) or set(raw) - _POLICY_KEYS:
        raise MalformedInput("policy must be an object with known fields only")
    for required in ("oidc_issuer", "workflow_ref_prefix", "payload_type"):
        if required not in raw:
            raise MalformedInput(f"policy.{required} is required")
    sct_min = _count(raw.get("sct_min"), "sct_min", 1)
    if sct_min != 1:
        raise Unsupported("only sct_min = 1 is supported (sigstore-python verifies one SCT)")
    tlog_min = _count(raw.get("tlog_entries_min"), "tlog_entries_min", 1)
    observers = _count(raw.get("observer_timestamps_min"), "observer_timestamps_min", 1)
    assert tlog_min is not None and observers is not None
    if tlog_min < 1 or observers < 1:
        # Zero would accept an unlogged / untimed signature; SigstorePolicy forbids it.
        raise Unsupported("tlog_entries_min and observer_timestamps_min below 1 are unsupported")
    try:
        return SigstorePolicy(
            repository=repo,
            oidc_issuer=_str(raw["oidc_issuer"], "oidc_issuer"),
            workflow_ref_prefix=_str(raw["workflow_ref_prefix"], "workflow_ref_prefix"),
            predicate_types_allowed=_allowlist(
                raw.get("predicate_types_allowed"), "predicate_types_allowed"
            ),
            in_toto_statement_types_allowed=_allowlist(
                raw.get("in_toto_statement_types_allowed"), "in_toto_statement_types_allowed"
            ),
            payload_type=_str(raw["payload_type"], "payload_type"),
            tlog_entries_min=tlog_min,
            tlog_entries_max=_count(
                raw.get("tlog_entries_max"), "tlog_entries_max", None, nullable=True
            ),
            observer_timestamps_min=observers,
        )
    except ValueError as exc:
        raise MalformedInput(str(exc)) from exc


def run(data: dict[str, Any]) -> dict[str, object]:
    """Verify one bundle; return the accept ``outputs`` or raise a rejection."""
    if set(data) - _INPUT_KEYS or not _INPUT_KEYS <= set(data) or data["schema_version"] != "1":
        raise MalformedInput("input does not match verify-sigstore.input.schema.json")
    digest = _str(data["expected_digest_sha256_hex"], "expected_digest_sha256_hex")
    repo = _str(data["repo"], "repo")
    if not _DIGEST.fullmatch(digest) or not _REPO.fullmatch(repo):
        raise MalformedInput("expected digest or repo has the wrong format")
    when = data["verification_time_unix"]
    if isinstance(when, bool) or not isinstance(when, int) or when < 0:
        raise MalformedInput("verification_time_unix must be a non-negative integer")
    policy = _policy(data["policy"], repo)
    trust = SigstoreTrust.from_trusted_root_json(
        b64_field(data["trust_root_b64"], "trust_root_b64")
    )
    verified = verify_statement(
        b64_field(data["bundle_b64"], "bundle_b64"),
        expected_digest=digest,
        policy=policy,
        trust=trust,
    )
    ident = verified.identity
    outputs: dict[str, object] = {
        "predicate_type": verified.statement.predicate_type,
        "in_toto_statement_type": verified.statement.type,
        "subject_digest_sha256_hex": verified.digest,
        "rekor_log_id_hex": verified.rekor_log_id_hex,
        "tlog_entry_count": verified.tlog_entry_count,
        "sct_count": verified.sct_count,
    }
    # An absent certificate extension is reported as "" (the suite's convention, 071).
    outputs.update(
        {
            "subject_name": verified.subject_name or "",
            "cert_oidc_issuer": ident.oidc_issuer or "",
            "cert_workflow_ref": ident.workflow_ref or "",
            "cert_workflow_repository": ident.repository or "",
            "cert_workflow_signer_uri": ident.build_signer_uri or "",
        }
    )
    if verified.integrated_time is not None:
        outputs["rekor_integrated_time_unix"] = verified.integrated_time
    if verified.statement.predicate_type == SNP_TDX_MULTIPLATFORM_V1:
        m = provenance_from(verified).measurement
        outputs["measurement"] = {"type": m.type, "registers": list(m.registers)}
    return outputs


__all__ = ["CAPABILITIES", "STAGE", "run"]
