"""`HardwareSource`: release digest discovery and bundle retrieval for the TDX platform table.

Hermetic fake GitHub API. The real Sigstore verifier runs on the real router bundle (which is
*not* a hardware-measurements release, so it must be rejected); the discovery plumbing is
checked with a recording verifier.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pytest

from attestation.errors import AttestationError, Code, FetchError, ProvenanceError
from attestation.fetch import FetchResult
from attestation.hardware_measurements import HardwarePlatform
from attestation.provenance import SigstorePolicy, SigstoreTrust
from attestation.tdx.hardware_source import HardwareSource, release_digest
from tests.conftest import shared_path

API = "https://api.github.com/repos/tinfoilsh/hardware-measurements"
DIGEST = "ab" * 32
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)


class FakeGitHub:
    def __init__(self, release: dict[str, Any], bundle: dict[str, Any]) -> None:
        self.pages: dict[str, bytes] = {
            f"{API}/releases/latest": json.dumps(release).encode(),
            f"{API}/attestations/sha256:{DIGEST}": json.dumps(
                {"attestations": [{"bundle": bundle}]}
            ).encode(),
            "https://github.com/assets/tinfoil.hash": f"{DIGEST}\n".encode(),
        }
        self.requests: list[str] = []
        self.offline = False

    async def get(
        self, url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        self.requests.append(url)
        if self.offline:
            raise FetchError(Code.FETCH_FAILED, "offline")
        if url not in self.pages:
            return FetchResult(404, {}, b"")
        return FetchResult(200, {}, self.pages[url])

    async def post(
        self,
        url: str,
        *,
        body: bytes,
        max_bytes: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        raise AssertionError("GET only")


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


def _source(gh: FakeGitHub, verify: Any, clock: list[dt.datetime]) -> HardwareSource:
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
    gh = FakeGitHub(release, {"mediaType": "x"})
    verifier = RecordingVerifier()
    platforms = await _source(gh, verifier, [NOW])()
    assert verifier.calls == [({"mediaType": "x"}, DIGEST)]
    assert platforms[0].id == f"p@{DIGEST}"


def test_release_without_digest_is_rejected() -> None:
    with pytest.raises(ProvenanceError) as err:
        release_digest({"body": "nothing here", "assets": []})
    assert err.value.code is Code.SUBJECT_MISSING


async def test_cache_and_fallback_after_ttl() -> None:
    gh = FakeGitHub({"body": f"Digest: `{DIGEST}`"}, {})
    verifier = RecordingVerifier()
    clock = [NOW]
    source = _source(gh, verifier, clock)
    await source.platforms()
    await source.platforms()
    assert len(verifier.calls) == 1
    clock[0] = NOW + dt.timedelta(hours=2)
    gh.offline = True
    assert (await source.platforms())[0].id == f"p@{DIGEST}"  # last verified table kept
    assert len(gh.requests) == 3


async def test_missing_attestation_is_rejected() -> None:
    gh = FakeGitHub({"body": f"Digest: `{'cd' * 32}`"}, {})
    with pytest.raises(FetchError):
        await _source(gh, RecordingVerifier(), [NOW])()


async def test_real_verifier_rejects_a_router_bundle_as_hardware_table() -> None:
    real = json.loads(
        shared_path("fixtures", "attestation", "sev", "real_genoa_bundle.json").read_text()
    )
    digest = real["digest"]
    gh = FakeGitHub({"body": f"Digest: `{digest}`"}, real["sigstoreBundle"])
    gh.pages[f"{API}/attestations/sha256:{digest}"] = json.dumps(
        {"attestations": [{"bundle": real["sigstoreBundle"]}]}
    ).encode()
    source = HardwareSource(gh, trust=SigstoreTrust.production(), clock=lambda: NOW)
    with pytest.raises(AttestationError) as err:
        await source()
    # genuinely signed, but by tinfoilsh/confidential-model-router's release workflow
    assert err.value.code is Code.WORKFLOW_REPOSITORY_MISMATCH
