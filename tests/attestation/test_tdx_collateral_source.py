"""`CollateralSource`: Intel PCS fetching, verification and the re-verified disk cache.

Hermetic: a fake fetcher serves the real PCS collateral snapshot (tests/data/SOURCES.md) as
Intel would, with the
issuer chains URL-encoded in response headers; the clock is injected.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from attestation.errors import Code, FetchError, HardwareError
from attestation.fetch import FetchResult
from attestation.tdx import IntelTrust, PckCa, verify_tdx_evidence
from attestation.tdx.collateral_source import CollateralSource, collateral_key
from tests.attestation.fakes import NOT_FOUND, FakeFetcher
from tests.attestation.test_tdx_real import historic_policy
from tests.conftest import data_path

JAN_20 = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
FMSPC = "90c06f000000"


def _file(name: str) -> bytes:
    return data_path("attestation", "tdx", name).read_bytes()


PCS = "https://api.trustedservices.intel.com"
TCB_URL = f"{PCS}/tdx/certification/v4/tcb?fmspc={FMSPC}"


def _pcs_answer(body: str, header: str, chain: str) -> FetchResult:
    # the snapshot's chain files hold the header value exactly as PCS sends it (URL-encoded)
    return FetchResult(200, {header.lower(): _file(chain).decode()}, _file(body))


def fake_pcs() -> FakeFetcher:
    """Answers the four collateral URLs like Intel PCS (404 otherwise); records every request."""
    pages: dict[str, FetchResult | bytes] = {
        TCB_URL: _pcs_answer(
            "tcb_info_90c06f000000.json",
            "TCB-Info-Issuer-Chain",
            "tcb_info_90c06f000000_chain.txt",
        ),
        f"{PCS}/tdx/certification/v4/qe/identity": _pcs_answer(
            "qe_identity.json", "SGX-Enclave-Identity-Issuer-Chain", "qe_identity_chain.txt"
        ),
        f"{PCS}/sgx/certification/v4/pckcrl?ca=platform&encoding=der": _pcs_answer(
            "pck_crl_platform.crl", "SGX-PCK-CRL-Issuer-Chain", "pck_crl_platform_chain.txt"
        ),
        "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der": _file("root_ca.crl"),
    }
    return FakeFetcher(pages, default=NOT_FOUND, max_bytes_at_most=1 << 20)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _source(pcs: FakeFetcher, cache: Path | None, clock: Clock) -> CollateralSource:
    return CollateralSource(pcs, cache_dir=cache, clock=clock)


async def test_fetched_collateral_verifies_the_real_quote(tmp_path: Path) -> None:
    pcs = fake_pcs()
    quote = _file("tdx_quote.bin")
    collateral = await _source(pcs, tmp_path, Clock(JAN_20))(quote)
    assert len(pcs.urls) == 4
    assert collateral.pck_crl_ca is PckCa.PLATFORM
    result = verify_tdx_evidence(
        quote,
        collateral=collateral,
        policy=historic_policy(),
        trust=IntelTrust.production(),
        now=JAN_20,
    )
    assert result.qv_result == "OK"
    assert list(tmp_path.iterdir()) == [tmp_path / f"tdx-collateral-{FMSPC}-platform.json"]


def test_collateral_key_of_the_real_quote() -> None:
    key = collateral_key(_file("tdx_quote.bin"))
    assert (key.fmspc, key.ca) == (FMSPC, PckCa.PLATFORM)


async def test_memory_cache_avoids_refetch(tmp_path: Path) -> None:
    pcs = fake_pcs()
    source = _source(pcs, tmp_path, Clock(JAN_20))
    await source.get(FMSPC, "platform")
    await source.get(FMSPC, PckCa.PLATFORM)
    assert len(pcs.urls) == 4


async def test_disk_cache_is_used_offline(tmp_path: Path) -> None:
    await _source(fake_pcs(), tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    offline = fake_pcs()
    offline.offline = True
    collateral = await _source(offline, tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    assert offline.urls == []
    assert collateral.tcb_info_json == _file("tcb_info_90c06f000000.json").decode()


async def test_tampered_disk_cache_is_refetched(tmp_path: Path) -> None:
    await _source(fake_pcs(), tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    path = tmp_path / f"tdx-collateral-{FMSPC}-platform.json"
    record = json.loads(path.read_text())
    record["tcb_info_json"] = record["tcb_info_json"].replace('"UpToDate"', '"UpToDate" ', 1)
    path.write_text(json.dumps(record))
    pcs = fake_pcs()
    collateral = await _source(pcs, tmp_path, Clock(JAN_20)).get(FMSPC, "platform")
    assert len(pcs.urls) == 4  # the cache failed re-verification
    assert collateral.tcb_info_json == _file("tcb_info_90c06f000000.json").decode()
    assert json.loads(path.read_text())["tcb_info_json"] == collateral.tcb_info_json


async def test_refresh_before_next_update_with_fallback(tmp_path: Path) -> None:
    clock = Clock(JAN_20)
    pcs = fake_pcs()
    source = _source(pcs, tmp_path, clock)
    await source.get(FMSPC, "platform")
    clock.now = dt.datetime(2026, 2, 11, 12, tzinfo=dt.UTC)  # < 6 h before TCB Info nextUpdate
    pcs.offline = True
    await source.get(FMSPC, "platform")  # refresh attempted, old collateral still valid
    assert len(pcs.urls) == 8  # 4 fetched, then 4 refresh attempts
    clock.now = dt.datetime(2026, 2, 12, tzinfo=dt.UTC)  # expired and PCS unreachable
    with pytest.raises(FetchError):
        await source.get(FMSPC, "platform")


async def test_expired_pcs_answer_is_rejected_not_cached(tmp_path: Path) -> None:
    source = _source(fake_pcs(), tmp_path, Clock(dt.datetime(2026, 11, 21, tzinfo=dt.UTC)))
    with pytest.raises(HardwareError) as err:
        await source.get(FMSPC, "platform")
    assert err.value.code is Code.TCB_INFO_EXPIRED
    assert list(tmp_path.iterdir()) == []


async def test_missing_issuer_chain_header_fails_fetch(tmp_path: Path) -> None:
    pcs = fake_pcs()
    url = "https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity"
    pcs.pages[url] = FetchResult(200, {}, _file("qe_identity.json"))
    with pytest.raises(FetchError):
        await _source(pcs, None, Clock(JAN_20)).get(FMSPC, "platform")


async def test_http_error_fails_fetch() -> None:
    with pytest.raises(FetchError):
        await _source(fake_pcs(), None, Clock(JAN_20)).get("00a06d080000", "platform")


async def test_collateral_for_another_fmspc_is_rejected() -> None:
    pcs = fake_pcs()
    url = "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=00a06d080000"
    pcs.pages[url] = pcs.answer(TCB_URL)
    with pytest.raises(HardwareError) as err:
        await _source(pcs, None, Clock(JAN_20)).get("00a06d080000", "platform")
    assert err.value.code is Code.PCK_FMSPC_MISMATCH
