"""Measurements: construction, fingerprint and comparison (docs/attestation.md V5), plus every
``verify-measurement`` conformance vector through the stage."""

from __future__ import annotations

import hashlib

import pytest

from attestation.conformance import stage_measurement
from attestation.errors import Code, MeasurementError
from attestation.measurements import ZERO_RTMR, compare_measurements, make_measurement
from attestation.models import SEV_SNP_GUEST_V2, SNP_TDX_MULTIPLATFORM_V1, TDX_GUEST_V2
from tests.attestation.test_provenance_vectors import run_vector
from tests.conftest import DATA

A, B, C, D, E = ("a" * 96, "b" * 96, "c" * 96, "d" * 96, "e" * 96)
MP = make_measurement(SNP_TDX_MULTIPLATFORM_V1, [A, B, C])
TDX = make_measurement(TDX_GUEST_V2, [D, E, B, C, ZERO_RTMR])
SEV = make_measurement(SEV_SNP_GUEST_V2, [A])

STAGE_DIR = DATA / "conformance" / "vectors" / "measurement"
VECTORS = sorted(p.name for p in STAGE_DIR.glob("[0-9]*")) if STAGE_DIR.exists() else []


@pytest.mark.parametrize("vector", VECTORS)
def test_measurement_vector(vector: str) -> None:
    run_vector(stage_measurement, STAGE_DIR / vector)


def test_make_measurement_lowercases() -> None:
    assert make_measurement(SEV_SNP_GUEST_V2, ["AbC"]).registers == ("abc",)


@pytest.mark.parametrize(
    ("type_uri", "count"), [(SEV_SNP_GUEST_V2, 2), (TDX_GUEST_V2, 4), (SNP_TDX_MULTIPLATFORM_V1, 1)]
)
def test_wrong_register_count(type_uri: str, count: int) -> None:
    with pytest.raises(MeasurementError) as info:
        make_measurement(type_uri, [A] * count)
    assert info.value.code is Code.MEASUREMENT_REGISTER_COUNT_INVALID


def test_unknown_type() -> None:
    with pytest.raises(MeasurementError) as info:
        make_measurement("https://tinfoil.sh/predicate/sev-snp-guest/v3", [A])
    assert info.value.code is Code.MEASUREMENT_TYPE_UNKNOWN


def test_fingerprints() -> None:
    assert SEV.fingerprint() == A
    expected = hashlib.sha256((SNP_TDX_MULTIPLATFORM_V1 + A + B + C).encode()).hexdigest()
    assert MP.fingerprint() == expected
    # Pinned by conformance vector 102 (independent of our formula).
    assert MP.fingerprint() == "17dfc4736b818183434cdad86810d00a3e032be8c2f9a55bd58cbec349397849"
    assert TDX.fingerprint() == "f86d23a97018a5b8c21fa935a872046f96eefafd63c2c62683f3a0c3bdf3ba9f"


@pytest.mark.parametrize(("x", "y"), [(MP, TDX), (TDX, MP), (MP, SEV), (SEV, MP), (TDX, TDX)])
def test_equal_pairs_accepted_both_ways(x: object, y: object) -> None:
    assert isinstance(x, type(MP)) and isinstance(y, type(MP))
    compare_measurements(x, y)
    compare_measurements(y, x)


def _reject(x: object, y: object) -> Code:
    assert isinstance(x, type(MP)) and isinstance(y, type(MP))
    with pytest.raises(MeasurementError) as info:
        compare_measurements(x, y)
    return info.value.code


def test_mp_vs_tdx_rules() -> None:
    rtmr3 = make_measurement(TDX_GUEST_V2, [D, E, B, C, "0" * 95 + "1"])
    assert _reject(MP, rtmr3) is Code.MEASUREMENT_RTMR3_NONZERO
    assert _reject(rtmr3, MP) is Code.MEASUREMENT_RTMR3_NONZERO
    swapped = make_measurement(TDX_GUEST_V2, [D, E, C, B, ZERO_RTMR])
    assert _reject(MP, swapped) is Code.MEASUREMENT_MISMATCH
    # MRTD / RTMR0 are not compared here (hardware-measurements matching covers them).
    compare_measurements(MP, make_measurement(TDX_GUEST_V2, [A, A, B, C, ZERO_RTMR]))


def test_mismatches_and_unsupported_pairs() -> None:
    assert _reject(MP, make_measurement(SEV_SNP_GUEST_V2, [B])) is Code.MEASUREMENT_MISMATCH
    assert _reject(SEV, make_measurement(SEV_SNP_GUEST_V2, [B])) is Code.MEASUREMENT_MISMATCH
    assert _reject(TDX, SEV) is Code.MEASUREMENT_TYPE_COMBINATION_UNSUPPORTED
    assert _reject(SEV, TDX) is Code.MEASUREMENT_TYPE_COMBINATION_UNSUPPORTED


def test_compare_revalidates_hand_built_measurements() -> None:
    bad = type(MP)(type=TDX_GUEST_V2, registers=(D, E, B))
    assert _reject(MP, bad) is Code.MEASUREMENT_REGISTER_COUNT_INVALID
    upper = type(MP)(type=SEV_SNP_GUEST_V2, registers=(A.upper(),))
    compare_measurements(SEV, upper)
