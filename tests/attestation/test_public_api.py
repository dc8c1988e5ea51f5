"""The public surface of `attestation` is exactly `__all__`, and every name resolves."""

from __future__ import annotations

import attestation

EXPECTED = {
    "AiohttpFetcher",
    "AmdTrust",
    "AttestationError",
    "Attestor",
    "BundleError",
    "Code",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "HardwareError",
    "KeyBindingError",
    "Measurement",
    "MeasurementError",
    "Platform",
    "Policy",
    "ProvenanceError",
    "SevPolicy",
    "Step",
    "StepResult",
    "Trust",
    "TrustError",
    "VerifiedEnclave",
    "user_cache_dir",
    "verify_bundle",
}


def test_all_is_the_documented_surface() -> None:
    assert set(attestation.__all__) == EXPECTED
    assert sorted(attestation.__all__) == attestation.__all__


def test_every_public_name_resolves() -> None:
    for name in attestation.__all__:
        assert getattr(attestation, name) is not None, name
    assert attestation.verify_bundle.__module__ == "attestation.verifier"
    assert issubclass(attestation.HardwareError, attestation.AttestationError)


def test_docstring_shows_usage() -> None:
    doc = attestation.__doc__ or ""
    assert "verify_bundle(" in doc and "Attestor.production(" in doc


def test_unknown_attribute() -> None:
    try:
        attestation.no_such_name  # noqa: B018
    except AttributeError:
        return
    raise AssertionError("expected AttributeError")
