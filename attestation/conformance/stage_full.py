"""Conformance stage ``verify-full`` (docs/attestation.md V0 and "Conformance CLI").

``standard``: Sigstore (the ``verify-sigstore`` stage module) → SEV-SNP hardware (the
``verify-attestation-sev`` stage module) → measurement comparison. ``pinned``: SEV-SNP
hardware → comparison with the caller's measurement. A rejection names the sub-stage that
produced it (``rejection.stage``); a missing block is BUNDLE_MALFORMED at ``verify-full``.

Not supported (exit 20, declared in capabilities): ``bundle`` mode and TDX evidence, for
which the suite has no verify-full fixtures. The proxy's own bundle flow is
:func:`attestation.verify_bundle`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from attestation.conformance import stage_sev
from attestation.conformance.base import (
    MalformedInput,
    RejectionContract,
    SubstageRejection,
    Unsupported,
)
from attestation.errors import AttestationError, BundleError, Code, MeasurementError
from attestation.measurements import compare_measurements
from attestation.models import Measurement

STAGE: Final = "verify-full"

# the schema allows any code here (the union of the sub-stages' plus cross-stage ones)
REJECTION: Final = RejectionContract(codes=None, message=True)

CAPABILITIES: Final[dict[str, object]] = {"flow_modes_supported": ["standard", "pinned"]}

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PinnedMeasurement(_Model):
    """``pinned_measurement`` of the verify-full input schema."""

    type: StrictStr
    registers: list[StrictStr]


class FullInput(_Model):
    """verify-full.input.schema.json. Sub-blocks are validated by their own stage modules."""

    schema_version: Literal["1"]
    mode: Literal["standard", "bundle", "pinned"]
    sigstore: dict[str, Any] | None = None
    attestation_sev: dict[str, Any] | None = None
    attestation_tdx: dict[str, Any] | None = None
    hardware_measurements: list[dict[str, Any]] | None = None
    pinned_measurement: PinnedMeasurement | None = None


@contextmanager
def _substage(name: str) -> Iterator[None]:
    """Attribute any rejection raised inside to sub-stage ``name``."""
    try:
        yield
    except AttestationError as exc:
        raise SubstageRejection(name, exc) from exc


def _in(name: str, fn: Callable[[], T]) -> T:
    with _substage(name):
        return fn()


def _measurement(raw: object) -> Measurement:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise MeasurementError(
            Code.MEASUREMENT_TYPE_UNKNOWN, "no measurement in the Sigstore statement"
        )
    registers = raw.get("registers")
    if not isinstance(registers, list) or not all(isinstance(r, str) for r in registers):
        raise MeasurementError(Code.MEASUREMENT_REGISTER_COUNT_INVALID, "registers are not strings")
    return Measurement(type=raw["type"], registers=tuple(registers))


def _m_json(m: Measurement) -> dict[str, object]:
    return {"type": m.type, "registers": list(m.registers)}


def _malformed_block(what: str) -> SubstageRejection:
    return SubstageRejection(
        STAGE, BundleError(Code.BUNDLE_MALFORMED, f"verify-full input lacks {what}")
    )


def run(data: dict[str, Any]) -> dict[str, object]:
    """Run the flow; return ``outputs`` or raise (rejections carry their sub-stage)."""
    try:
        inp = FullInput.model_validate(data)
    except ValidationError as exc:
        raise MalformedInput(
            f"input does not match the verify-full schema: {exc.error_count()} error(s)"
        ) from exc
    if inp.mode == "bundle":
        raise Unsupported("verify-full mode 'bundle' (not in flow_modes_supported)")
    if inp.attestation_tdx is not None:
        raise Unsupported("verify-full with TDX evidence")
    outputs: dict[str, object] = {"mode": inp.mode, "platform": "sev-snp"}

    code: Measurement | None = None
    if inp.mode == "standard":
        if inp.sigstore is None:
            raise _malformed_block("the sigstore block (required in standard mode)")
        if inp.attestation_sev is None:
            raise _malformed_block("a hardware attestation block")
        from attestation.conformance import stage_sigstore

        sig_input = {"schema_version": "1", **inp.sigstore}
        sig_input.setdefault("verification_time_unix", int(dt.datetime.now(dt.UTC).timestamp()))
        sig_out = _in("verify-sigstore", lambda: stage_sigstore.run(sig_input))
        code = _in("verify-measurement", lambda: _measurement(sig_out.get("measurement")))
        outputs["sigstore_measurement"] = _m_json(code)
    else:
        if inp.pinned_measurement is None:
            raise _malformed_block("pinned_measurement (required in pinned mode)")
        if inp.attestation_sev is None:
            raise _malformed_block("a hardware attestation block")
        pinned = inp.pinned_measurement
        code = Measurement(type=pinned.type, registers=tuple(pinned.registers))

    sev_input = stage_sev.parse_input({"schema_version": "1", **inp.attestation_sev})
    verified = _in("verify-attestation-sev", lambda: stage_sev.verify_input(sev_input))
    hardware = verified.measurement
    outputs["attestation_measurement"] = _m_json(hardware)

    _in("verify-measurement", lambda: compare_measurements(code, hardware))
    outputs["final_measurement_fingerprint_hex"] = hardware.fingerprint()
    return outputs


__all__ = ["CAPABILITIES", "STAGE", "FullInput", "run"]
