"""Contract between the conformance CLI (`python -m attestation.conformance`) and its stages.

Each stage module (`stage_*.py`) exposes:

* `STAGE: str` — the subcommand name, e.g. ``"verify-attestation-sev"``;
* `CAPABILITIES: dict[str, object]` — its fragment of the `capabilities` JSON (merged by
  the CLI; declare a flag true only where the code really supports it);
* `REJECTION: RejectionContract` — which rejection codes its output schema lists, whether
  the schema has a `message` field, and how our own codes outside that list are reported;
* `def run(data: dict[str, object]) -> dict[str, object]` — the `outputs` object on accept.
  It raises `attestation.errors.AttestationError` to reject (exit 10),
  `MalformedInput` for input the schema forbids (exit 30) and `Unsupported` for a
  feature the SDK lacks (exit 20).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from attestation.errors import AttestationError


class MalformedInput(Exception):  # noqa: N818 (name fixed by the stage contract)
    """Input JSON is not valid for the stage (exit code 30)."""


class Unsupported(Exception):  # noqa: N818 (name fixed by the stage contract)
    """The input asks for something this SDK does not implement (exit code 20)."""


def b64_field(value: object, name: str) -> bytes:
    """Strict base64 of an input field; anything else is `MalformedInput` (exit 30)."""
    if not isinstance(value, str):
        raise MalformedInput(f"{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"{name} is not valid base64") from exc


EXIT_ACCEPT = 0
EXIT_INTERNAL = 1
EXIT_REJECT = 10
EXIT_UNSUPPORTED = 20
EXIT_MALFORMED = 30


class SubstageRejection(Exception):  # noqa: N818 (a verdict, not an error)
    """A `verify-full` rejection naming the sub-stage that produced it (docs/attestation.md,
    "Conformance CLI").

    ``stage`` is one of the output schema's ``rejection.stage`` values, e.g.
    ``"verify-sigstore"``; ``error`` is the original rejection.
    """

    def __init__(self, stage: str, error: AttestationError) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


@dataclass(frozen=True, slots=True)
class RejectionContract:
    """A stage's ``rejection`` object as its output schema allows it.

    * ``codes``: the schema's code enum (``None``: any string, as verify-full).
    * ``message``: whether the schema has a ``message`` member (else it goes to stderr).
    * ``aliases``: our codes that the schema names differently, e.g. a disagreement of the two
      TDX verifiers is "no verdict could be reached" (QV_RESULT_TERMINAL_UNSPECIFIED).
    * ``fallback``: the schema's catch-all code for any other code of ours; ``None`` means
      the stage has none and such a rejection is an internal error (exit 1), never an
      out-of-schema output.
    """

    codes: frozenset[str] | None
    message: bool = False
    aliases: Mapping[str, str] = field(default_factory=dict)
    fallback: str | None = None

    def __post_init__(self) -> None:
        allowed = self.codes
        if allowed is not None:
            targets = [*self.aliases.values(), *([self.fallback] if self.fallback else [])]
            if not set(targets) <= allowed:
                raise ValueError("aliases and fallback must be codes the schema lists")

    def code_for(self, code: str) -> str | None:
        """The schema code to report for our ``code``; ``None`` if the stage has none."""
        if self.codes is None or code in self.codes:
            return code
        return self.aliases.get(code, self.fallback)


#: The contract of a stage whose schema takes any code (and a stage that declares none).
ANY_CODE = RejectionContract(codes=None, message=True)
