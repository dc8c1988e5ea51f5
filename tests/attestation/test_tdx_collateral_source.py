"""`CollateralSource`: Intel PCS fetching, verification and the re-verified disk cache.

Hermetic: a fake fetcher serves the real PCS collateral snapshot (A.9) as Intel would, with the
issuer chains URL-encoded in response headers; the clock is injected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from attestation.errors import Code, FetchError, HardwareError
from attestation.fetch import FetchResult
from attestation.tdx import IntelTrust, PckCa, TdxPolicy, verify_tdx_evidence
from attestation.tdx.collateral_source import CollateralSource, collateral_key
from tests.conftest import shared_path

JAN_20 = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
FMSPC = "90c06f000000"


def _file(name: str) -> bytes:
    return shared_path("fixtures", "attestation", "tdx", name).read_bytes()


class FakePcs:
    """Answers the four collateral URLs like Intel PCS; records every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.fail = False
        self.overrides: dict[str, FetchResult] = {}

    def _answer(self, url: str) -> FetchResult:
        if url in self.overrides:
            return self.overrides[url]
        base = "https://api.trustedservices.intel.com"
        table = {
            f"{base}/tdx/certification/v4/tcb?fmspc={FMSPC}": (
                "tcb_info_90c06f000000.json",
                "TCB-Info-Issuer-Chain",
                "tcb_info_90c06f000000_chain.txt",
            ),
            f"{base}/tdx/certification/v4/qe/identity": (
                "qe_identity.json",
                "SGX-Enclave-Identity-Issuer-Chain",
                "qe_identity_chain.txt",
            ),
            f"{base}/sgx/certification/v4/pckcrl?ca=platform&encoding=der": (
                "pck_crl_platform.crl",
                "SGX-PCK-CRL-Issuer-Chain",
                "pck_crl_platform_chain.txt",
            ),
        }
        if url == "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der":
            return FetchResult(200, {}, _file("root_ca.crl"))
        if url not in table:
            return FetchResult(404, {}, b"")
        body, header, chain = table[url]
        # the snapshot's chain files hold the header value exactly as PCS sends it (URL-encoded)
        return FetchResult(200, {header.lower(): _file(chain).decode()}, _file(body))

    async def get(
        self, url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None
    ) -> FetchResult:
        self.requests.append(url)
        if self.fail:
            raise FetchError(Code.FETCH_FAILED, "offline")
        assert max_bytes <= 1 << 20 and timeout > 0
        return self._answer(url)

    async def post(
        self,
        url: str,
        *,
        body: bytes,
        max_bytes: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        raise AssertionError("collateral is only fetched with GET")


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _source(pcs: FakePcs, cache: Path | None, clock: Clock) -> CollateralSource:
    return CollateralSource(pcs, cache_dir=cache, clock=clock)


async def test_fetched_collateral_verifies_the_real_quote(tmp_path: Path) -> None:
    pcs = FakePcs()
    quote = _file("tdx_quote.bin")
    collateral = await _source(pcs, tmp_path, Clock(JAN_20))(quote)
    assert len(pcs.requests) == 4
    assert collateral.pck_crl_ca is PckCa.PLATFORM
    result = verify_tdx_evidence(
        quote,
        collateral=collateral,
        policy=TdxPolicy.production(),
        trust=IntelTrust.production(),
        now=JAN_20,
    )
    assert result.qv_result == "OK"
    assert list(tmp_path.iterdir()) == [tmp_path / f"tdx-collateral-{FMSPC}-platform.json"]


def test_collateral_key_of_the_real_quote() -> None:
    key = collateral_key(_file("tdx_quote.bin"))
    assert (key.fmspc, key.ca) == (FMSPC, PckCa.PLATFORM)


async def test_memory_cache_avoids_refetch(tmp_path: Path) -> None:
    pcs = FakePcs()
    source = _source(pcs, tmp_path, Clock(JAN_20))
    await source.get(FMSPC, "platform")
    await source.get(FMSPC, PckCa.PLATFORM)
    assert len(pcs.requests) == 4


async def test_disk_cache_is_used_offline(tmp_path: Path) -> None:
    await _source(FakePcs(), tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    offline = FakePcs()
    offline.fail = True
    collateral = await _source(offline, tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    assert offline.requests == []
    assert collateral.tcb_info_json == _file("tcb_info_90c06f000000.json").decode()


async def test_tampered_disk_cache_is_refetched(tmp_path: Path) -> None:
    await _source(FakePcs(), tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    path = tmp_path / f"tdx-collateral-{FMSPC}-platform.json"
    record = json.loads(path.read_text())
    record["tcb_info_json"] = record["tcb_info_json"].replace('"UpToDate"', '"UpToDate" ', 1)
    path.write_text(json.dumps(record))
    pcs = FakePcs()
    collateral = await _source(pcs, tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    assert len(pcs.requests) == 4  # the cache failed re-verification
    assert collateral.tcb_info_json == _file("tcb_info_90c06f000000.json").decode()
    assert json.loads(path.read_text())["tcb_info_json"] == collateral.tcb_info_json


async def test_refresh_before_next_update_with_fallback(tmp_path: Path) -> None:
    clock = Clock(JAN_20)
    pcs = FakePcs()
    source = _source(pcs, tmp_path, clock)
    await source.get(FMSPC, "platform")
    clock.now = dt.datetime(2026, 2, 11, 12, tzinfo=dt.UTC)  # < 6 h before TCB Info nextUpdate
    pcs.fail = True
    await source.get(FMSPC, "platform")  # refresh attempted, old collateral still valid
    assert len(pcs.requests) == 8  # 4 fetched, then 4 refresh attempts
    clock.now = dt.datetime(2026, 2, 12, tzinfo=dt.UTC)  # expired and PCS unreachable
    with pytest.raises(FetchError):
        await source.get(FMSPC, "platform")


async def test_expired_pcs_answer_is_rejected_not_cached(tmp_path: Path) -> None:
    source = _source(FakePcs(), tmp_path, Clock(dt.datetime(2026, 11, 21, tzinfo=dt.UTC)))
    with pytest.raises(HardwareError) as err:
        await source.get(FMSPC, "platform")
    assert err.value.code is Code.TCB_INFO_EXPIRED
    assert list(tmp_path.iterdir()) == []


async def test_missing_issuer_chain_header_fails_fetch(tmp_path: Path) -> None:
    pcs = FakePcs()
    url = "https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity"
    pcs.overrides[url] = FetchResult(200, {}, _file("qe_identity.json"))
    with pytest.raises(FetchError):
        await _source(pcs, None, Clock(JAN_20)).get(FMSPC, "platform")


async def test_http_error_fails_fetch() -> None:
    with pytest.raises(FetchError):
        await _source(FakePcs(), None, Clock(JAN_20)).get("00a06d080000", "platform")


async def test_collateral_for_another_fmspc_is_rejected() -> None:
    pcs = FakePcs()
    url = "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=00a06d080000"
    pcs.overrides[url] = pcs._answer(
        f"https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc={FMSPC}"
    )
    with pytest.raises(HardwareError) as err:
        await _source(pcs, None, Clock(JAN_20)).get("00a06d080000", "platform")
    assert err.value.code is Code.PCK_FMSPC_MISMATCH
