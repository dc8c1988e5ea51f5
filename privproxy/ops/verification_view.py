"""The JSON served at `GET /v1/verification`: exactly what was verified, and when.

Built from an immutable `AttestationStatus` snapshot, so one answer is self-consistent
even while a re-verification runs. Only public facts: measurements, digests, key
fingerprints and the public HPKE key itself (it is in the attestation report anyway).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from attestation.errors import Step
from attestation.models import Measurement, VerifiedEnclave
from attestation.sdk import verifiers
from privproxy import __version__
from privproxy.enclave.status import AttestationStatus
from privproxy.server.config import Settings

VERIFIER_NAME = "privproxy"
GPU_NOT_VERIFIED = (
    "NVIDIA GPU evidence is NOT verified client-side: a v3 document binds the device_evidence"
    " section into the attested report by its SHA-256 only; v2 bundles carry none."
)


def iso(value: dt.datetime | None) -> str | None:
    """RFC 3339 UTC with a `Z`, or None."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def measurement_json(m: Measurement) -> dict[str, Any]:
    """A measurement with its fingerprint (docs/attestation.md V5)."""
    return {"type": m.type, "registers": list(m.registers), "fingerprint": m.fingerprint()}


def steps_json(status: AttestationStatus) -> list[dict[str, Any]]:
    """Per-step results: those the verifier recorded, or the failing step of the last try."""
    verification = status.verification
    steps: list[dict[str, Any]] = []
    if verification is not None:
        recorded = {r.step for r in verification.steps}
        if Step.FETCH not in recorded:
            fetched = "document fetched" if verification.attestation_format == "v3" else "bundle"
            steps.append(
                {"step": Step.FETCH.value, "status": "passed", "detail": f"{fetched} fetched"}
            )
        steps.extend(
            {"step": r.step.value, "status": "passed" if r.ok else "failed", "detail": r.detail}
            for r in verification.steps
        )
        return steps
    err = status.last_error
    if err is not None:
        if err.step != Step.FETCH.value:
            steps.append({"step": Step.FETCH.value, "status": "passed", "detail": "bundle fetched"})
        steps.append({"step": err.step, "status": "failed", "detail": f"{err.code}: {err.message}"})
    return steps


def enclave_json(v: VerifiedEnclave) -> dict[str, Any]:
    """The verified facts about one enclave."""
    return {
        "domain": v.domain,
        "url": f"https://{v.domain}",
        "platform": v.platform.value,
        "repository": v.repository,
        "release_digest": v.release_digest,
        "code_measurement": measurement_json(v.code_measurement),
        "hardware_measurement": measurement_json(v.hardware_measurement),
        "hpke_public_key": v.hpke_public_key_hex,
        "hpke_key_fingerprint": v.hpke_key_fingerprint,
        "tls_key_fingerprint": v.tls_key_fingerprint,
        "tcb": dict(v.tcb),
        "verdicts": list(v.verifiers),
        "attestation_format": v.attestation_format,
        "freshness_expires_at": iso(v.freshness_expires_at),
        "platform_policy": v.platform_policy,
        "device_evidence": None
        if v.device_evidence_hash is None
        else {"sha256": v.device_evidence_hash, "items": v.device_items, "verified": False},
    }


def attestation_format_json(status: AttestationStatus, settings: Settings) -> dict[str, Any]:
    """Which format is configured, which one proved the current key, and its deadline."""
    v = status.verification
    return {
        "configured": settings.attestation,
        "format": v.attestation_format if v is not None else None,
        "freshness_expires_at": iso(v.freshness_expires_at) if v is not None else None,
        "gpu_evidence": GPU_NOT_VERIFIED,
    }


def verification_json(status: AttestationStatus, settings: Settings) -> dict[str, Any]:
    """The `/v1/verification` document for an attested provider."""
    v = status.verification
    err = status.last_error
    change = status.measurement_change
    return {
        "state": status.state.value,
        "verified": status.serving,
        "unsafe": False,
        "simulated": settings.simulated,
        "enclave": enclave_json(v) if v is not None else None,
        "attestation": attestation_format_json(status, settings),
        "steps": steps_json(status),
        "verified_at": iso(status.verified_at),
        "expires_at": iso(status.expires_at),
        "age_seconds": status.age_seconds,
        "last_check_at": iso(status.last_check_at),
        "next_check_at": iso(status.next_check_at),
        "in_progress": status.in_progress,
        "generation": status.target.generation if status.target is not None else None,
        "error": None
        if err is None
        else {"step": err.step, "code": err.code, "message": err.message, "at": iso(err.at)},
        "measurement_change": None
        if change is None
        else {"at": iso(change.at), "old": change.old, "new": change.new},
        "verifier": {"name": VERIFIER_NAME, "version": __version__},
        "verifiers": verifiers(),
        "policy": {
            "reattest_interval_seconds": settings.reattest_interval,
            "attestation_max_age_seconds": settings.attestation_max_age,
        },
    }


def unattested_json(health: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The document for a provider without attestation (`--unsafe-hpke-key`)."""
    unsafe = bool(health.get("unsafe", False))
    return {
        "state": "unsafe" if unsafe else "unverified",
        "verified": False,
        "unsafe": unsafe,
        "simulated": settings.simulated,
        "enclave": None,
        "steps": [],
        "error": {
            "step": "none",
            "code": "ATTESTATION_DISABLED" if unsafe else "UNVERIFIED",
            "message": "attestation is skipped: --unsafe-hpke-key is set"
            if unsafe
            else "no attestation available",
            "at": None,
        },
        "verifier": {"name": VERIFIER_NAME, "version": __version__},
    }


__all__ = [
    "GPU_NOT_VERIFIED",
    "attestation_format_json",
    "enclave_json",
    "iso",
    "measurement_json",
    "steps_json",
    "unattested_json",
    "verification_json",
]
