"""`HardwareSource`: release digest discovery and bundle retrieval for the TDX platform table.

Hermetic fake GitHub API. The real Sigstore verifier runs on the real router bundle (which is
*not* a hardware-measurements release, so it must be rejected); the discovery plumbing is
checked with a recording verifier.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from attestation.errors import AttestationError, Code, FetchError, ProvenanceError
from attestation.hardware_measurements import HardwarePlatform
from attestation.provenance import SigstorePolicy, SigstoreTrust
from attestation.tdx.hardware_source import HardwareSource, release_digest
from tests.attestation.fakes import NOT_FOUND, FakeFetcher
from tests.conftest import data_path

API = "https://api.github.com/repos/tinfoilsh/hardware-measurements"
DIGEST = "ab" * 32
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


def fake_github(release: dict[str, Any], bundle: dict[str, Any]) -> FakeFetcher:
    """GitHub answering the latest release, its attestation and its hash asset (404 otherwise)."""
    return FakeFetcher(
        {
            f"{API}/releases/latest": json.dumps(release).encode(),
            f"{API}/attestations/sha256:{DIGEST}": json.dumps(
                {"attestations": [{"bundle": bundle}]}
            ).encode(),
            "https://github.com/assets/tinfoil.hash": f"{DIGEST}\n".encode(),
        },
        default=NOT_FOUND,
    )


class RecordingVerifier:
    """Stands in for Sigstore verification to observe what discovery hands over."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], str]] = []

    def __call__(
        self, bundle_json: bytes, *, expected_digest: str, policy: SigstorePolicy, trust: object
    ) -> list[HardwarePlatform]:
        assert policy.repository == "tinfoilsh/hardware-measurements"
        self.calls.append((json.loads(bundle_json), expected_digest))
        return [HardwarePlatform(id=f"p@{expected_digest}", mrtd="00", rtmr0="11")]


def _source(gh: FakeFetcher, verify: Any, clock: list[dt.datetime]) -> HardwareSource:
    return HardwareSource(
        gh, trust=SigstoreTrust.production(), clock=lambda: clock[0], verify=verify
    )


@pytest.mark.parametrize(
    "release",
    [
        {"body": f"Release notes\nDigest: `{DIGEST.upper()}`\n"},
        {"body": f"EIF hash: {DIGEST}"},
        {
            "body": "",
            "assets": [
                {
                    "name": "tinfoil.hash",
                    "browser_download_url": "https://github.com/assets/tinfoil.hash",
                }
            ],
        },
    ],
)
async def test_digest_discovery_and_bundle_handover(release: dict[str, Any]) -> None:
    gh = fake_github(release, {"mediaType": "x"})
    verifier = RecordingVerifier()
    platforms = await _source(gh, verifier, [NOW])()
    assert verifier.calls == [({"mediaType": "x"}, DIGEST)]
    assert platforms[0].id == f"p@{DIGEST}"


def test_release_without_digest_is_rejected() -> None:
    with pytest.raises(ProvenanceError) as err:
        release_digest({"body": "nothing here", "assets": []})
    assert err.value.code is Code.SUBJECT_MISSING


async def test_cache_and_fallback_after_ttl() -> None:
    gh = fake_github({"body": f"Digest: `{DIGEST}`"}, {})
    verifier = RecordingVerifier()
    clock = [NOW]
    source = _source(gh, verifier, clock)
    await source.platforms()
    await source.platforms()
    assert len(verifier.calls) == 1
    clock[0] = NOW + dt.timedelta(hours=2)
    gh.offline = True
    assert (await source.platforms())[0].id == f"p@{DIGEST}"  # last verified table kept
    assert len(gh.urls) == 3


async def test_missing_attestation_is_rejected() -> None:
    gh = fake_github({"body": f"Digest: `{'cd' * 32}`"}, {})
    with pytest.raises(FetchError):
        await _source(gh, RecordingVerifier(), [NOW])()


async def test_real_verifier_rejects_a_router_bundle_as_hardware_table() -> None:
    real = json.loads(data_path("attestation", "sev", "real_genoa_bundle.json").read_text())
    digest = real["digest"]
    gh = fake_github({"body": f"Digest: `{digest}`"}, real["sigstoreBundle"])
    gh.pages[f"{API}/attestations/sha256:{digest}"] = json.dumps(
        {"attestations": [{"bundle": real["sigstoreBundle"]}]}
    ).encode()
    source = HardwareSource(gh, trust=SigstoreTrust.production(), clock=lambda: NOW)
    with pytest.raises(AttestationError) as err:
        await source()
    # genuinely signed, but by tinfoilsh/confidential-model-router's release workflow
    assert err.value.code is Code.WORKFLOW_REPOSITORY_MISMATCH
