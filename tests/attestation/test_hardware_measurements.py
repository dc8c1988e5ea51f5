"""TDX hardware-measurement matching (docs/attestation.md V4.3) and predicate parsing, plus every
``verify-hardware-measurements`` conformance vector through the stage."""

from __future__ import annotations

import pytest

from attestation.conformance import stage_hardware_measurements
from attestation.errors import Code, MeasurementError, ProvenanceError
from attestation.hardware_measurements import (
    HardwarePlatform,
    match_hardware,
    platforms_from_predicate,
)
from attestation.measurements import ZERO_RTMR
from attestation.models import SEV_SNP_GUEST_V2, TDX_GUEST_V2, Measurement
from tests.attestation.test_provenance_vectors import run_vector
from tests.conftest import DATA

STAGE_DIR = DATA / "conformance" / "vectors" / "hardware-measurements"
VECTORS = sorted(p.name for p in STAGE_DIR.glob("[0-9]*")) if STAGE_DIR.exists() else []

M1, M2, R1, R2 = ("1" * 96, "2" * 96, "a" * 96, "b" * 96)


def _tdx(mrtd: str, rtmr0: str) -> Measurement:
    return Measurement(type=TDX_GUEST_V2, registers=(mrtd, rtmr0, "c" * 96, "d" * 96, ZERO_RTMR))


@pytest.mark.parametrize("vector", VECTORS)
def test_hardware_vector(vector: str) -> None:
    run_vector(stage_hardware_measurements, STAGE_DIR / vector)


def test_predicate_to_platforms_keeps_order_and_normalizes() -> None:
    predicate = {"b300": {"mrtd": M2, "rtmr0": R2.upper()}, "b200": {"mrtd": M1, "rtmr0": R1}}
    platforms = platforms_from_predicate(predicate, "abc")
    assert platforms == [
        HardwarePlatform(id="b300@abc", mrtd=M2, rtmr0=R2),
        HardwarePlatform(id="b200@abc", mrtd=M1, rtmr0=R1),
    ]
    assert match_hardware(platforms, _tdx(M1, R1.upper())).id == "b200@abc"


@pytest.mark.parametrize(
    "predicate", [[], {"p": {"mrtd": M1}}, {"p": {"mrtd": M1, "rtmr0": 5}}, {"p": "x"}]
)
def test_bad_predicate_rejected(predicate: object) -> None:
    with pytest.raises(ProvenanceError) as info:
        platforms_from_predicate(predicate, "abc")
    assert info.value.code is Code.PREDICATE_MEASUREMENT_INVALID


def test_match_requires_both_registers_and_returns_first() -> None:
    platforms = [
        HardwarePlatform("x@d", M1, R2),
        HardwarePlatform("y@d", M1, R1),
        HardwarePlatform("z@d", M1, R1),
    ]
    assert match_hardware(platforms, _tdx(M1, R1)).id == "y@d"
    with pytest.raises(MeasurementError) as info:
        match_hardware(platforms, _tdx(M2, R1))
    assert info.value.code is Code.HARDWARE_NO_MATCH


def test_enclave_type_and_count() -> None:
    with pytest.raises(MeasurementError) as info:
        match_hardware([], Measurement(type=SEV_SNP_GUEST_V2, registers=(M1,)))
    assert info.value.code is Code.ENCLAVE_MEASUREMENT_TYPE_INVALID
    with pytest.raises(MeasurementError) as info:
        match_hardware([], Measurement(type=TDX_GUEST_V2, registers=(M1, R1)))
    assert info.value.code is Code.ENCLAVE_REGISTER_COUNT_INVALID
