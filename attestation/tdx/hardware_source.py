"""The TDX hardware-measurement table: latest Sigstore-verified ``tinfoilsh/hardware-measurements``.

Release digest discovery follows docs/attestation.md V1 ("Release digest discovery"), talking to
the GitHub REST API directly (``api.github.com``; the reference goes through its own GitHub
proxy, which serves the same JSON):

1. ``GET /repos/{repo}/releases/latest``;
2. the digest is the release body's ``Digest: `<64 hex>` ``, else legacy ``EIF hash: <64 hex>``,
   else the text of the release asset ``tinfoil.hash``;
3. ``GET /repos/{repo}/attestations/sha256:{digest}`` → ``attestations[0].bundle``.

The bundle is verified (off the event loop) with the hardware-measurements Sigstore policy;
only then are its platforms returned (V4.3). Results are kept in memory for ``ttl``; a failed
refresh keeps serving the last verified table. Nothing is trusted from GitHub itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, Final

from attestation.errors import AttestationError, Code, FetchError, ProvenanceError
from attestation.fetch import Fetcher
from attestation.hardware_measurements import HardwarePlatform
from attestation.provenance import (
    SigstorePolicy,
    SigstoreTrust,
    verify_hardware_measurements_bundle,
)
from attestation.provenance.policy import HARDWARE_MEASUREMENTS_REPOSITORY

GITHUB_API: Final = "https://api.github.com"
MAX_JSON_BYTES: Final = 4 << 20
DEFAULT_TIMEOUT: Final = 20.0
_DIGEST_LINE: Final = re.compile(r"Digest: `([0-9a-fA-F]{64})`")
_EIF_HASH: Final = re.compile(r"EIF hash: ([0-9a-fA-F]{64})")
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")
_GITHUB_HEADERS: Final = {"Accept": "application/vnd.github+json"}

BundleVerifier = Callable[..., list[HardwarePlatform]]


def release_digest(release: object) -> tuple[str | None, str | None]:
    """(digest from the release body, else None; ``tinfoil.hash`` asset URL, else None)."""
    if not isinstance(release, dict):
        raise ProvenanceError(Code.BUNDLE_MALFORMED, "latest release is not a JSON object")
    body = release.get("body")
    body = body if isinstance(body, str) else ""
    for pattern in (_DIGEST_LINE, _EIF_HASH):
        found = pattern.search(body)
        if found:
            return found.group(1).lower(), None
    assets = release.get("assets")
    for asset in assets if isinstance(assets, list) else []:
        if isinstance(asset, dict) and asset.get("name") == "tinfoil.hash":
            url = asset.get("browser_download_url")
            if isinstance(url, str):
                return None, url
    raise ProvenanceError(Code.SUBJECT_MISSING, "latest release names no digest")


class HardwareSource:
    """Provider of verified `HardwarePlatform`s (`attestation.attestor.PlatformsProvider`)."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        trust: SigstoreTrust,
        clock: Callable[[], dt.datetime],
        policy: SigstorePolicy | None = None,
        repository: str = HARDWARE_MEASUREMENTS_REPOSITORY,
        api_base: str = GITHUB_API,
        ttl: dt.timedelta = dt.timedelta(hours=1),
        timeout: float = DEFAULT_TIMEOUT,
        verify: BundleVerifier = verify_hardware_measurements_bundle,
    ) -> None:
        self._fetcher = fetcher
        self._trust = trust
        self._clock = clock
        self._policy = policy or SigstorePolicy.hardware_measurements(repository)
        self._repo = repository
        self._api = api_base.rstrip("/")
        self._ttl = ttl
        self._timeout = timeout
        self._verify = verify
        self._cached: tuple[list[HardwarePlatform], dt.datetime] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> list[HardwarePlatform]:
        """Provider form: the current verified platform table."""
        return await self.platforms()

    async def platforms(self) -> list[HardwarePlatform]:
        """The latest verified platform table (cached for ``ttl``)."""
        async with self._lock:
            now = self._clock()
            if self._cached is not None and now < self._cached[1] + self._ttl:
                return list(self._cached[0])
            try:
                platforms = await self._fetch_and_verify()
            except AttestationError:
                if self._cached is not None:
                    return list(self._cached[0])  # keep the last verified table
                raise
            self._cached = (platforms, now)
            return list(platforms)

    async def _get(self, url: str) -> bytes:
        resp = await self._fetcher.get(
            url, max_bytes=MAX_JSON_BYTES, timeout=self._timeout, headers=_GITHUB_HEADERS
        )
        if resp.status != 200:
            raise FetchError(Code.FETCH_FAILED, f"{url}: HTTP {resp.status}")
        return resp.body

    async def _json(self, url: str) -> Any:
        try:
            return json.loads(await self._get(url))
        except ValueError as exc:
            raise FetchError(Code.FETCH_FAILED, f"{url}: not JSON") from exc

    async def _fetch_and_verify(self) -> list[HardwarePlatform]:
        release = await self._json(f"{self._api}/repos/{self._repo}/releases/latest")
        digest, hash_url = release_digest(release)
        if digest is None:
            assert hash_url is not None
            text = (await self._get(hash_url)).decode(errors="replace").strip()
            if not _HEX64.fullmatch(text):
                raise ProvenanceError(Code.SUBJECT_MISSING, "tinfoil.hash is not a SHA-256 digest")
            digest = text.lower()
        listing = await self._json(f"{self._api}/repos/{self._repo}/attestations/sha256:{digest}")
        attestations = listing.get("attestations") if isinstance(listing, dict) else None
        if not isinstance(attestations, list) or not attestations:
            raise ProvenanceError(Code.BUNDLE_MALFORMED, f"no attestation for sha256:{digest}")
        first = attestations[0]
        bundle = first.get("bundle") if isinstance(first, dict) else None
        if not isinstance(bundle, dict):
            raise ProvenanceError(Code.BUNDLE_MALFORMED, "attestation has no bundle object")
        return await asyncio.to_thread(
            self._verify,
            json.dumps(bundle).encode(),
            expected_digest=digest,
            policy=self._policy,
            trust=self._trust,
        )


__all__ = ["GITHUB_API", "HardwareSource", "release_digest"]
