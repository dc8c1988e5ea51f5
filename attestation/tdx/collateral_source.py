"""Intel PCS collateral for a TDX quote: fetched through an injected fetcher, cached on disk.

* Sources (docs/attestation.md V3.3): Intel PCS v4 for TCB Info, QE Identity and the PCK CRL (issuer
  chains arrive URL-encoded in response headers), the Intel SGX Root CA CRL from Intel's
  certificate site. Nothing here trusts the transport: every document is verified against the
  pinned Intel root (`verify_collateral_documents`) before it is used or cached.
* Cache: one JSON file per (FMSPC, PCK CA) under ``cache_dir``; re-verified on every load (a
  tampered or expired file is ignored and refetched). Collateral is refreshed once ``clock()`` is
  within ``refresh_margin`` of the earliest ``nextUpdate``; a failed refresh falls back to the
  previous collateral only while it is still valid.
* Verification is CPU work and runs in `asyncio.to_thread`; disk I/O too.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from attestation.errors import AttestationError, Code, FetchError
from attestation.fetch import Fetcher
from attestation.tdx.abi import parse_quote
from attestation.tdx.certs import PCK_CHAIN_CODES, load_pem_chain, parse_pck_extensions, pck_ca_of
from attestation.tdx.collateral_checks import verify_collateral_documents
from attestation.tdx.models import PckCa, TdxCollateral
from attestation.tdx.trust import IntelTrust

PCS_BASE: Final = "https://api.trustedservices.intel.com"
ROOT_CRL_URL: Final = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
MAX_DOCUMENT_BYTES: Final = 1 << 20
DEFAULT_TIMEOUT: Final = 20.0
CACHE_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class CollateralKey:
    """Which collateral a quote needs: its PCK leaf's FMSPC and issuing CA."""

    fmspc: str  # lowercase hex, 6 bytes
    ca: PckCa


def collateral_key(quote: bytes) -> CollateralKey:
    """Read FMSPC and PCK CA from the quote's (not yet verified) PCK leaf, to select collateral.

    Selecting by unverified data is safe: verification re-derives both from the verified chain
    and rejects collateral for another platform.
    """
    leaf = load_pem_chain(parse_quote(quote).pck_chain_pem, PCK_CHAIN_CODES)[0]
    return CollateralKey(fmspc=parse_pck_extensions(leaf).fmspc.hex(), ca=pck_ca_of(leaf))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class CollateralSource:
    """Supplies verified, fresh `TdxCollateral` per (FMSPC, CA); usable as a provider callable."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        cache_dir: Path | None,
        clock: Callable[[], dt.datetime],
        trust: IntelTrust | None = None,
        refresh_margin: dt.timedelta = dt.timedelta(hours=6),
        pcs_base: str = PCS_BASE,
        root_crl_url: str = ROOT_CRL_URL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._fetcher = fetcher
        self._cache_dir = cache_dir
        self._clock = clock
        self._trust = trust or IntelTrust.production()
        self._margin = refresh_margin
        self._pcs = pcs_base.rstrip("/")
        self._root_crl_url = root_crl_url
        self._timeout = timeout
        self._memory: dict[CollateralKey, tuple[TdxCollateral, dt.datetime]] = {}
        self._locks: dict[CollateralKey, asyncio.Lock] = {}

    async def __call__(self, quote: bytes) -> TdxCollateral:
        """Provider form (`attestation.attestor.CollateralProvider`): collateral for a quote."""
        return await self.for_quote(quote)

    async def for_quote(self, quote: bytes) -> TdxCollateral:
        """Collateral for the platform that produced `quote`."""
        key = await asyncio.to_thread(collateral_key, quote)
        return await self.get(key.fmspc, key.ca)

    async def get(self, fmspc: str, ca: PckCa | str) -> TdxCollateral:
        """Verified collateral for `fmspc` / `ca`, from memory, disk or Intel PCS."""
        key = CollateralKey(fmspc=fmspc.lower(), ca=PckCa(ca))
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # single flight per key
            now = self._clock()
            cached = self._memory.get(key) or await self._load(key, now)
            if cached is not None and now + self._margin < cached[1]:
                self._memory[key] = cached
                return cached[0]
            try:
                fresh = await self._fetch(key, now)
            except AttestationError:
                if cached is not None and now <= cached[1]:
                    return cached[0]  # refresh failed; the old collateral is still valid
                raise
            self._memory[key] = fresh
            await asyncio.to_thread(self._store, key, fresh[0])
            return fresh[0]

    # --- fetching ---------------------------------------------------------------------------

    async def _get(self, url: str, chain_header: str | None) -> tuple[bytes, str | None]:
        resp = await self._fetcher.get(url, max_bytes=MAX_DOCUMENT_BYTES, timeout=self._timeout)
        if resp.status != 200:
            raise FetchError(Code.FETCH_FAILED, f"{url}: HTTP {resp.status}")
        if chain_header is None:
            return resp.body, None
        chain = _header(resp.headers, chain_header)
        if chain is None:
            raise FetchError(Code.FETCH_FAILED, f"{url}: response lacks {chain_header}")
        return resp.body, urllib.parse.unquote(chain)

    async def _fetch(
        self, key: CollateralKey, now: dt.datetime
    ) -> tuple[TdxCollateral, dt.datetime]:
        pcs = self._pcs
        tcb, qe, pck, root = await asyncio.gather(
            self._get(f"{pcs}/tdx/certification/v4/tcb?fmspc={key.fmspc}", "TCB-Info-Issuer-Chain"),
            self._get(
                f"{pcs}/tdx/certification/v4/qe/identity", "SGX-Enclave-Identity-Issuer-Chain"
            ),
            self._get(
                f"{pcs}/sgx/certification/v4/pckcrl?ca={key.ca.value}&encoding=der",
                "SGX-PCK-CRL-Issuer-Chain",
            ),
            self._get(self._root_crl_url, None),
        )
        try:
            collateral = TdxCollateral(
                tcb_info_json=tcb[0].decode(),
                qe_identity_json=qe[0].decode(),
                pck_crl=pck[0],
                root_crl=root[0],
                tcb_info_issuer_chain=tcb[1],
                qe_identity_issuer_chain=qe[1],
                pck_crl_issuer_chain=pck[1],
                pck_crl_ca=key.ca,
            )
        except UnicodeDecodeError as exc:
            raise FetchError(Code.FETCH_FAILED, "PCS returned non-UTF-8 JSON") from exc
        return collateral, await self._verify(collateral, key, now)

    async def _verify(
        self, collateral: TdxCollateral, key: CollateralKey, now: dt.datetime
    ) -> dt.datetime:
        return await asyncio.to_thread(
            verify_collateral_documents, collateral, fmspc=key.fmspc, trust=self._trust, now=now
        )

    # --- disk cache -------------------------------------------------------------------------

    def _path(self, key: CollateralKey) -> Path | None:
        if self._cache_dir is None:
            return None
        return self._cache_dir / f"tdx-collateral-{key.fmspc}-{key.ca.value}.json"

    async def _load(
        self, key: CollateralKey, now: dt.datetime
    ) -> tuple[TdxCollateral, dt.datetime] | None:
        path = self._path(key)
        if path is None:
            return None
        collateral = await asyncio.to_thread(_read_cache, path)
        if collateral is None:
            return None
        try:
            return collateral, await self._verify(collateral, key, now)
        except AttestationError:
            return None  # tampered, foreign or expired: refetch

    def _store(self, key: CollateralKey, collateral: TdxCollateral) -> None:
        path = self._path(key)
        if path is None:
            return
        record = asdict(collateral)
        record["pck_crl"] = base64.b64encode(collateral.pck_crl).decode()
        record["root_crl"] = base64.b64encode(collateral.root_crl).decode()
        record["pck_crl_ca"] = key.ca.value
        record["format"] = CACHE_FORMAT
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)  # atomic: readers never see a half-written file


def _read_cache(path: Path) -> TdxCollateral | None:
    """Parse a cache file; anything unexpected means "no cache"."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or record.get("format") != CACHE_FORMAT:
            return None
        return TdxCollateral(
            tcb_info_json=str(record["tcb_info_json"]),
            qe_identity_json=str(record["qe_identity_json"]),
            pck_crl=base64.b64decode(record["pck_crl"], validate=True),
            root_crl=base64.b64decode(record["root_crl"], validate=True),
            tcb_info_issuer_chain=str(record["tcb_info_issuer_chain"]),
            qe_identity_issuer_chain=str(record["qe_identity_issuer_chain"]),
            pck_crl_issuer_chain=str(record["pck_crl_issuer_chain"]),
            pck_crl_ca=PckCa(record["pck_crl_ca"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["CollateralKey", "CollateralSource", "collateral_key"]
