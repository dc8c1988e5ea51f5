"""`Attestor`: fetch a bundle through an injected fetcher and verify it off the event loop.

The proxy's start-up/refresh state machine (``privproxy/enclave/attested.py``) is built on this::

    async with AiohttpFetcher() as fetcher:
        attestor = Attestor(fetcher, policy=Policy.production(), trust=Trust.production())
        enclave = await attestor.verify(await attestor.fetch_bundle("https://api.ppq.ai"))

AMD ARK/ASK ship with the package (pinned, ``attestation.sev.roots``); AMD KDS is asked only
for the VCEK of a bundle that carries none (``attestation.sev.kds``), and that VCEK is
verified like a bundled one. TDX collateral and hardware platforms come from injected async
providers (``attestation.tdx.collateral_source``); without them a TDX bundle fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from attestation.bundle import MAX_BUNDLE_BYTES, AttestationBundle, parse_bundle
from attestation.errors import Code, FetchError, TrustError
from attestation.fetch import Fetcher, check_url
from attestation.models import Platform, VerifiedEnclave
from attestation.policy import Policy
from attestation.sev.abi import parse_report
from attestation.sev.kds import fetch_vcek
from attestation.trust import Trust
from attestation.verifier import StepCallback, verify_bundle

if TYPE_CHECKING:
    from attestation.hardware_measurements import HardwarePlatform
    from attestation.provenance.trust import SigstoreTrust
    from attestation.tdx.collateral_source import CollateralSource
    from attestation.tdx.hardware_source import HardwareSource
    from attestation.tdx.models import TdxCollateral
    from attestation.tdx.trust import IntelTrust

ATTESTATION_PATH: Final = "/private/attestation"
DEFAULT_TIMEOUT: Final = 15.0

Clock = Callable[[], dt.datetime]
CollateralProvider = Callable[[bytes], Awaitable["TdxCollateral"]]
PlatformsProvider = Callable[[], Awaitable[Sequence["HardwarePlatform"]]]


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def _lazy_collateral_source(
    fetcher: Fetcher,
    *,
    cache_dir: Path | None,
    clock: Clock,
    trust: IntelTrust,
) -> CollateralProvider:
    """A `CollateralSource` built (and its module imported) on the first TDX bundle."""
    source: CollateralSource | None = None

    async def provide(quote: bytes) -> TdxCollateral:
        nonlocal source
        if source is None:
            from attestation.tdx.collateral_source import CollateralSource

            source = CollateralSource(fetcher, cache_dir=cache_dir, clock=clock, trust=trust)
        return await source(quote)

    return provide


def _lazy_hardware_source(
    fetcher: Fetcher, *, trust: SigstoreTrust, clock: Clock
) -> PlatformsProvider:
    """A `HardwareSource` built (and its module imported) on the first TDX bundle."""
    source: HardwareSource | None = None

    async def provide() -> Sequence[HardwarePlatform]:
        nonlocal source
        if source is None:
            from attestation.tdx.hardware_source import HardwareSource

            source = HardwareSource(fetcher, trust=trust, clock=clock)
        return await source()

    return provide


class Attestor:
    """Fetch and verify attestation bundles. Safe to share; AMD root loading is single-flight."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        policy: Policy,
        trust: Trust,
        clock: Clock = utc_now,
        tdx_collateral: CollateralProvider | None = None,
        hardware_platforms: PlatformsProvider | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._fetcher = fetcher
        self._policy = policy
        self._trust = trust
        self._clock = clock
        self._tdx_collateral = tdx_collateral
        self._hardware_platforms = hardware_platforms
        self._timeout = timeout

    @classmethod
    def production(
        cls,
        fetcher: Fetcher,
        *,
        cache_dir: Path | None,
        clock: Clock = utc_now,
        amd_chain_files: Sequence[Path] = (),
        timeout: float = DEFAULT_TIMEOUT,
        sigstore_trust_root: Path | None = None,
        tdx_mr_seam_allow: Sequence[bytes] = (),
    ) -> Attestor:
        """Production wiring: pinned trust, production policy, TDX collateral and platforms.

        Intel PCS collateral (cached under ``cache_dir/tdx``) and the hardware-measurements
        table are fetched through ``fetcher`` only when a TDX bundle is verified; their
        modules are imported only then too, so an SEV-SNP verification never loads them.
        """
        trust = Trust.production(
            amd_chain_files=amd_chain_files, sigstore_trust_root=sigstore_trust_root
        )
        collateral = _lazy_collateral_source(
            fetcher,
            cache_dir=cache_dir / "tdx" if cache_dir is not None else None,
            clock=clock,
            trust=trust.require_intel(),
        )
        platforms = _lazy_hardware_source(fetcher, trust=trust.require_sigstore(), clock=clock)
        return cls(
            fetcher,
            policy=Policy.production(tdx_mr_seam_allow=tdx_mr_seam_allow),
            trust=trust,
            clock=clock,
            tdx_collateral=collateral,
            hardware_platforms=platforms,
            timeout=timeout,
        )

    @property
    def trust(self) -> Trust:
        """The trust in use."""
        return self._trust

    async def warm_up(self) -> None:
        """Import sigstore and build its verifier now, in a worker thread.

        That is about 0.2 s of imports which :meth:`verify` would otherwise pay after the
        bundle arrived; started alongside :meth:`fetch_bundle` it overlaps the network round
        trip. Never raises: a root the library refuses is reported by :meth:`verify`, which
        asks for the same verifier again, with its own code (TRUST_ROOT_INVALID).
        """
        sigstore = self._trust.sigstore
        if sigstore is None:
            return

        def build() -> None:
            with contextlib.suppress(Exception):
                sigstore.verifier()

        await asyncio.to_thread(build)

    async def fetch_bundle(self, api_base: str) -> bytes:
        """GET ``{api_base}/private/attestation`` (https or loopback http, no redirects, capped)."""
        url = api_base.rstrip("/") + ATTESTATION_PATH
        check_url(url)
        result = await self._fetcher.get(
            url,
            max_bytes=MAX_BUNDLE_BYTES,
            timeout=self._timeout,
            headers={"Accept": "application/json"},
        )
        if result.status != 200:
            raise FetchError(Code.FETCH_FAILED, f"{url} answered HTTP {result.status}")
        return result.body

    async def _vcek_if_missing(self, parsed: AttestationBundle) -> bytes | None:
        """The VCEK from AMD KDS when an SEV-SNP bundle carries none (it is verified later)."""
        if parsed.platform is not Platform.SEV_SNP or parsed.vcek_der:
            return None
        return await fetch_vcek(self._fetcher, parse_report(parsed.evidence), timeout=self._timeout)

    async def verify(
        self, bundle: bytes, *, on_step: StepCallback | None = None
    ) -> VerifiedEnclave:
        """Verify ``bundle`` at ``clock()``; the CPU-bound part runs in a worker thread.

        ``on_step`` is called from that worker thread.
        """
        parsed = parse_bundle(bundle)  # cheap; tells which roots/collateral are needed
        vcek_der = await self._vcek_if_missing(parsed)
        collateral = None
        platforms = None
        if parsed.platform is Platform.TDX:
            if self._tdx_collateral is None or self._hardware_platforms is None:
                raise TrustError(
                    Code.TRUST_ROOT_INVALID, "no TDX collateral/hardware source configured"
                )
            collateral = await self._tdx_collateral(parsed.evidence)
            platforms = await self._hardware_platforms()
        return await asyncio.to_thread(
            verify_bundle,
            bundle,
            policy=self._policy,
            trust=self._trust,
            now=self._clock(),
            tdx_collateral=collateral,
            hardware_platforms=platforms,
            on_step=on_step,
            vcek_der=vcek_der,
        )

    async def fetch_and_verify(
        self, api_base: str, *, on_step: StepCallback | None = None
    ) -> VerifiedEnclave:
        """:meth:`fetch_bundle` then :meth:`verify`."""
        return await self.verify(await self.fetch_bundle(api_base), on_step=on_step)


__all__ = ["ATTESTATION_PATH", "Attestor", "utc_now"]
