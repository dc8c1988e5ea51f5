"""Reference values of a v3 document: code provenance, platform endorsements, freshness.

All four Sigstore statements are judged at one appraisal time ``now`` and nothing here
touches the network: the document carries every bundle. The code repository is the
caller's (policy), never the one the document names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from attestation.errors import AttestationError, Code, ProvenanceError
from attestation.models import SNP_TDX_MULTIPLATFORM_V1, Measurement
from attestation.provenance.predicate import multiplatform_measurement
from attestation.provenance.trust import SigstoreTrust
from attestation.v3.constants import (
    COLL_SIGSTORE_CODE,
    COLL_SIGSTORE_FRESHNESS,
    COLL_SIGSTORE_PLATFORM,
    FRESHNESS_REPOSITORY,
    FRESHNESS_WITNESS_V1,
    MAX_FRESHNESS_AGE,
    MAX_FRESHNESS_SKEW,
    PLATFORM_ENDORSEMENTS_V1,
    PLATFORM_REPOSITORY,
    ROLE_REFERENCE_VALUES,
)
from attestation.v3.document import Collateral, Document
from attestation.v3.endorsements import Endorsements, Shape, parse_endorsements
from attestation.v3.signed import Signer, san_pattern, verify_signed

_SLUG: Final = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_COMMIT: Final = re.compile(r"[0-9a-f]{40}")
_ARTIFACT_MEMBERS: Final = frozenset({"repo", "tag", "digest", "sigstore_bundle"})


@dataclass(frozen=True, slots=True)
class Artifact:
    """A release the certificate authenticated: what a freshness witness must endorse."""

    repo: str
    tag: str
    commit: str
    subject_name: str
    digest: str


@dataclass(frozen=True, slots=True)
class CodeRelease:
    """The verified code release: measurement (3 registers) and required VM shape."""

    artifact: Artifact
    measurement: Measurement
    shape: Shape


@dataclass(frozen=True, slots=True)
class PlatformRelease:
    """The verified platform-endorsements release and its artifact."""

    artifact: Artifact
    endorsements: Endorsements


def _prov(code: Code, message: str) -> ProvenanceError:
    return ProvenanceError(code, message)


def check_repository(repo: str) -> str:
    """A GitHub ``owner/name`` slug (the caller pins the code repository)."""
    if not _SLUG.fullmatch(repo):
        raise _prov(Code.V3_PROV_IDENTITY, f"repository {repo!r} is not owner/name")
    return repo


def _release_data(entry: Collateral) -> tuple[str, str, str, Any]:
    data = entry.data
    if set(data) - _ARTIFACT_MEMBERS:
        raise _prov(Code.V3_PROV_COLLATERAL_PARSE, f"{entry.id}: unknown members in data")
    # null reads as "" (the zero value); any other non-string is malformed.
    repo, tag, digest = ("" if data.get(k) is None else data[k] for k in ("repo", "tag", "digest"))
    if not all(isinstance(v, str) for v in (repo, tag, digest)) or not _DIGEST.fullmatch(digest):
        raise _prov(Code.V3_PROV_COLLATERAL_PARSE, f"{entry.id}: repo/tag/digest malformed")
    return repo, tag, digest, data.get("sigstore_bundle")


def _shape_number(raw: dict[str, Any], key: str) -> int:
    value = raw.get(key)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)  # an integral number spelled with a fraction is still that number
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise _prov(Code.V3_PROV_PREDICATE, f"code predicate vm_shape.{key} is invalid")
    return value


def _vm_shape(predicate: dict[str, Any]) -> Shape:
    raw = predicate.get("vm_shape")
    keys = ("cpus", "memory_mb", "gpus", "disks")
    if not isinstance(raw, dict) or set(raw) - set(keys):
        raise _prov(Code.V3_PROV_PREDICATE, "code predicate vm_shape is missing or invalid")
    cpus, memory_mb, gpus, disks = (_shape_number(raw, k) for k in keys)
    return Shape(cpus=cpus, memory_mb=memory_mb, disks=disks, gpus=gpus)


def verify_code(doc: Document, *, repository: str, trust: SigstoreTrust) -> CodeRelease:
    """The ``sigstore-code`` entry: a tag release of ``repository`` with its measurement."""
    entry = doc.find(ROLE_REFERENCE_VALUES, COLL_SIGSTORE_CODE)
    if entry is None:
        raise _prov(Code.V3_PROV_CODE_MISSING, "no sigstore-code collateral")
    _, tag, digest, bundle = _release_data(entry)
    repo = check_repository(repository)
    signer = Signer(
        what="code",
        repository=repo,
        san=san_pattern(repo, r"[^/@]+", r"refs/tags/[^@]+"),
        ref_prefix="refs/tags/",
        predicate_type=SNP_TDX_MULTIPLATFORM_V1,
        tag_release=True,
    )
    signed = verify_signed(bundle, signer=signer, digest=digest, tag=tag, trust=trust)
    predicate = signed.statement.get("predicate")
    if not isinstance(predicate, dict):
        raise _prov(Code.V3_PROV_PREDICATE, "code predicate is not an object")
    try:
        measurement = multiplatform_measurement(predicate)
    except AttestationError as exc:
        raise _prov(Code.V3_PROV_PREDICATE, f"code predicate: {exc.message}") from exc
    assert signed.tag is not None and signed.commit is not None
    artifact = Artifact(repo, signed.tag, signed.commit, signed.subject_name, signed.digest)
    return CodeRelease(artifact=artifact, measurement=measurement, shape=_vm_shape(predicate))


def verify_platform(doc: Document, *, trust: SigstoreTrust) -> PlatformRelease:
    """The ``sigstore-platform`` entry: a tagged platform-endorsements release."""
    entry = doc.find(ROLE_REFERENCE_VALUES, COLL_SIGSTORE_PLATFORM)
    if entry is None:
        raise _prov(Code.V3_PROV_PLATFORM_MISSING, "no sigstore-platform collateral")
    repo, tag, digest, bundle = _release_data(entry)
    signer = Signer(
        what="platform",
        repository=PLATFORM_REPOSITORY,
        san=san_pattern(PLATFORM_REPOSITORY, r"build\.yml", r"refs/tags/v[0-9][^@]*"),
        ref_prefix="refs/tags/v",
        predicate_type=PLATFORM_ENDORSEMENTS_V1,
        tag_release=True,
    )
    signed = verify_signed(bundle, signer=signer, digest=digest, tag=tag, trust=trust)
    if repo != PLATFORM_REPOSITORY:
        raise _prov(Code.V3_PROV_PLATFORM_REPO, f"platform entry names repo {repo!r}")
    endorsements = parse_endorsements(signed.statement.get("predicate"))
    assert signed.tag is not None and signed.commit is not None
    artifact = Artifact(repo, signed.tag, signed.commit, signed.subject_name, signed.digest)
    return PlatformRelease(artifact=artifact, endorsements=endorsements)


_WITNESS_SIGNER: Final = Signer(
    what="freshness witness",
    repository=FRESHNESS_REPOSITORY,
    san=san_pattern(FRESHNESS_REPOSITORY, r"freshness\.yml", r"refs/heads/main"),
    ref_prefix="refs/heads/main",
    predicate_type=FRESHNESS_WITNESS_V1,
    tag_release=False,
    identity_code=Code.V3_PROV_FRESHNESS_IDENTITY,
    statement_code=Code.V3_PROV_FRESHNESS_STATEMENT,
)


def _check_endorses(statement: dict[str, Any], artifact: Artifact, entry_id: str) -> None:
    def bad(message: str) -> ProvenanceError:
        return _prov(Code.V3_PROV_FRESHNESS_STATEMENT, f"{entry_id}: {message}")

    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise bad("a witness has exactly one subject")
    subject = subjects[0]
    if subject.get("name") != artifact.subject_name or set(subject) != {"name", "digest"}:
        raise bad("witness subject is not the artifact")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or set(predicate) != {"format", "endorses"}:
        raise bad("witness predicate members are wrong")
    if predicate.get("format") != FRESHNESS_WITNESS_V1:
        raise bad("witness predicate format is wrong")
    endorses = predicate.get("endorses")
    expected = {
        "repo": artifact.repo,
        "tag": artifact.tag,
        "commit": artifact.commit,
        "subject": {"name": artifact.subject_name, "digest": f"sha256:{artifact.digest}"},
    }
    if endorses != expected:
        raise bad("witness endorses a different release")


def verify_freshness(
    doc: Document, entry_id: str, artifact: Artifact, *, trust: SigstoreTrust, now: dt.datetime
) -> dt.datetime:
    """Verify the witness ``entry_id`` for ``artifact``; return when it stops being fresh.

    The witness time is the earliest transparency-log time bound by an inclusion promise;
    a witness without one, from more than 5 minutes in the future, or older than 7 days
    rejects.
    """
    entries = [
        c
        for c in doc.collateral
        if c.role == ROLE_REFERENCE_VALUES and c.format == COLL_SIGSTORE_FRESHNESS
        if c.id == entry_id
    ]
    if len(entries) != 1:
        raise _prov(Code.V3_PROV_FRESHNESS_MISSING, f"no single {entry_id} witness")
    data = entries[0].data
    if set(data) != {"sigstore_bundle"}:
        raise _prov(Code.V3_PROV_COLLATERAL_PARSE, f"{entry_id}: data must be sigstore_bundle")
    valid = (
        _SLUG.fullmatch(artifact.repo)
        and artifact.tag
        and _COMMIT.fullmatch(artifact.commit)
        and artifact.subject_name
        and _DIGEST.fullmatch(artifact.digest)
    )
    if not valid:
        raise _prov(Code.V3_PROV_FRESHNESS_STATEMENT, f"{entry_id}: endorsed artifact invalid")
    signed = verify_signed(
        data["sigstore_bundle"], signer=_WITNESS_SIGNER, digest=artifact.digest, tag="", trust=trust
    )
    _check_endorses(signed.statement, artifact, entry_id)
    if signed.log_time is None:
        raise _prov(Code.V3_PROV_FRESHNESS_NO_TIME, f"{entry_id}: no verified log time")
    witnessed = dt.datetime.fromtimestamp(signed.log_time, tz=dt.UTC)
    if witnessed > now + MAX_FRESHNESS_SKEW:
        raise _prov(
            Code.V3_PROV_FRESHNESS_FUTURE, f"{entry_id}: witnessed {witnessed:%FT%TZ}, in future"
        )
    if now - witnessed > MAX_FRESHNESS_AGE:
        raise _prov(
            Code.V3_PROV_FRESHNESS_STALE,
            f"{entry_id}: witnessed {witnessed:%FT%TZ}, more than 7 days before {now:%FT%TZ}",
        )
    return witnessed + MAX_FRESHNESS_AGE


__all__ = [
    "Artifact",
    "CodeRelease",
    "PlatformRelease",
    "check_repository",
    "verify_code",
    "verify_freshness",
    "verify_platform",
]
