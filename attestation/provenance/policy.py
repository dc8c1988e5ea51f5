"""Sigstore identity and in-toto policy for code provenance (docs/attestation.md V4.2, 6, 11).

The policy is data: a frozen dataclass whose defaults are the fail-closed Tinfoil production
values. The conformance suite's ``null`` ("any value accepted") is spelled :data:`ANY`,
never a silent default; an empty tuple accepts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from attestation.models import HARDWARE_MEASUREMENTS_V1, SNP_TDX_MULTIPLATFORM_V1

GITHUB_ACTIONS_ISSUER: Final = "https://token.actions.githubusercontent.com"
IN_TOTO_STATEMENT_V1: Final = "https://in-toto.io/Statement/v1"
IN_TOTO_STATEMENT_V01: Final = "https://in-toto.io/Statement/v0.1"
IN_TOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
DEFAULT_REPOSITORY: Final = "tinfoilsh/confidential-model-router"
HARDWARE_MEASUREMENTS_REPOSITORY: Final = "tinfoilsh/hardware-measurements"


class _Any(Enum):
    """Sentinel type: an allowlist that accepts every value (conformance ``null``)."""

    ANY = "ANY"

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any.ANY
"""Explicit "no restriction" marker for an allowlist field."""

AnyMarker = Literal[_Any.ANY]
Allowlist = tuple[str, ...] | AnyMarker


def allows(allowlist: Allowlist, value: str) -> bool:
    """Exact-string membership; :data:`ANY` accepts everything, ``()`` nothing."""
    if allowlist is ANY:
        return True
    return value in allowlist


@dataclass(frozen=True, slots=True)
class SigstorePolicy:
    """What a Sigstore bundle must prove, besides being cryptographically valid.

    * ``oidc_issuer``: exact match against the Fulcio V2 issuer extension (V1 only if V2 absent).
    * ``repository``: exact match against GitHubWorkflowRepository (``owner/repo``).
    * ``workflow_ref_prefix``: GitHubWorkflowRef must *start with* it; ``""`` accepts any ref.
    * ``predicate_types_allowed`` / ``in_toto_statement_types_allowed``: exact-string
      allowlists, or :data:`ANY`.
    * ``payload_type``: exact DSSE ``payloadType``.
    * ``tlog_entries_min``/``tlog_entries_max``: accepted Rekor entry count (max ``None`` =
      unbounded up to :data:`attestation.provenance.bundle.MAX_TLOG_ENTRIES`).
    * ``observer_timestamps_min``: signing-time sources required (SET-bound integrated
      times plus RFC 3161 timestamps).
    """

    repository: str
    oidc_issuer: str = GITHUB_ACTIONS_ISSUER
    workflow_ref_prefix: str = "refs/tags/"
    predicate_types_allowed: Allowlist = (SNP_TDX_MULTIPLATFORM_V1,)
    in_toto_statement_types_allowed: Allowlist = (IN_TOTO_STATEMENT_V1, IN_TOTO_STATEMENT_V01)
    payload_type: str = IN_TOTO_PAYLOAD_TYPE
    tlog_entries_min: int = 1
    tlog_entries_max: int | None = None
    observer_timestamps_min: int = 1

    def __post_init__(self) -> None:
        # Zero would let an unlogged or untimed signature through: never configurable to 0.
        if self.tlog_entries_min < 1 or self.observer_timestamps_min < 1:
            raise ValueError("tlog_entries_min and observer_timestamps_min must be >= 1")
        if self.tlog_entries_max is not None and self.tlog_entries_max < self.tlog_entries_min:
            raise ValueError("tlog_entries_max is below tlog_entries_min")

    @classmethod
    def production(cls, repository: str = DEFAULT_REPOSITORY) -> SigstorePolicy:
        """Tinfoil production policy for the code-measurement release of ``repository``."""
        return cls(repository=repository)

    @classmethod
    def hardware_measurements(
        cls, repository: str = HARDWARE_MEASUREMENTS_REPOSITORY
    ) -> SigstorePolicy:
        """Policy for the TDX platform table release (V4.3): same identity rules."""
        return cls(repository=repository, predicate_types_allowed=(HARDWARE_MEASUREMENTS_V1,))


__all__ = [
    "ANY",
    "DEFAULT_REPOSITORY",
    "GITHUB_ACTIONS_ISSUER",
    "HARDWARE_MEASUREMENTS_REPOSITORY",
    "IN_TOTO_PAYLOAD_TYPE",
    "IN_TOTO_STATEMENT_V01",
    "IN_TOTO_STATEMENT_V1",
    "Allowlist",
    "AnyMarker",
    "SigstorePolicy",
    "allows",
]
