"""AMD root pinning: pinned loading, refusal of other roots, KDS download + cache via a fetcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from attestation.errors import AttestationError, Code, FetchError
from attestation.fetch import FetchResult
from attestation.sev.abi import Product
from attestation.sev.roots import (
    PINNED_ARK_SHA256,
    AmdTrust,
    cache_file,
    check_pins,
    fetch_cert_chain,
    load_cached,
    parse_chain_pem,
)
from tests.attestation.fakes import NOT_FOUND, FakeFetcher
from tests.attestation.realdata import amd_chain_files, synth_amd
from tests.conftest import data_path


def _synth_chain_pem() -> bytes:
    base = data_path("conformance", "vectors", "attestation-sev", "_assets", "synth_chain")
    return (base / "ask.pem").read_bytes() + (base / "ark.pem").read_bytes()


def test_pins_match_shared_kds_copies() -> None:
    trust = AmdTrust.pinned_from_files(amd_chain_files())
    assert trust.pinned
    assert trust.products() == frozenset(Product)
    assert "pinned" in repr(trust) and "UNPINNED" not in repr(trust)
    for path in amd_chain_files():
        chain = check_pins(parse_chain_pem(path.read_bytes()))
        assert path.name.startswith(chain.product.value)


def test_pinned_refuses_synthetic_chain() -> None:
    # Same subject names as the real Genoa chain, different keys: only the pins tell them apart.
    with pytest.raises(AttestationError) as exc:
        AmdTrust.pinned_from_pem([_synth_chain_pem()])
    assert exc.value.code is Code.AMD_ROOT_UNPINNED


def test_unpinned_for_testing_is_labelled() -> None:
    trust = synth_amd()
    assert not trust.pinned
    assert "UNPINNED" in repr(trust)
    with pytest.raises(AttestationError) as exc:
        AmdTrust.pinned_from_files(amd_chain_files()).with_chain(trust.chain_for(Product.GENOA))
    assert exc.value.code is Code.AMD_ROOT_UNPINNED


def test_chain_must_be_ask_plus_self_signed_ark() -> None:
    genoa, milan = (p.read_bytes() for p in amd_chain_files() if p.name[:5] in ("Genoa", "Milan"))
    with pytest.raises(AttestationError) as exc:
        parse_chain_pem(genoa + milan)  # four certificates
    assert exc.value.code is Code.TRUST_ROOT_INVALID
    ask_genoa = genoa.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    ark_milan = (
        milan.split(b"-----END CERTIFICATE-----")[1].lstrip() + b"-----END CERTIFICATE-----\n"
    )
    with pytest.raises(AttestationError) as exc:
        parse_chain_pem(ask_genoa + ark_milan)
    assert exc.value.code is Code.TRUST_ROOT_INVALID
    with pytest.raises(AttestationError):
        parse_chain_pem(b"not pem")


def test_missing_product_fails_closed() -> None:
    genoa = [p for p in amd_chain_files() if p.name.startswith("Genoa")]
    trust = AmdTrust.pinned_from_files(genoa)
    with pytest.raises(AttestationError) as exc:
        trust.chain_for(Product.TURIN)
    assert exc.value.code is Code.TRUST_ROOT_INVALID


async def test_kds_download_is_pinned_and_cached(tmp_path: Path) -> None:
    pem = next(p for p in amd_chain_files() if p.name.startswith("Turin")).read_bytes()
    fetcher = FakeFetcher(default=FetchResult(200, {}, pem))
    chain = await fetch_cert_chain(fetcher, Product.TURIN, cache_dir=tmp_path)
    assert fetcher.urls == ["https://kdsintf.amd.com/vcek/v1/Turin/cert_chain"]
    assert chain.product is Product.TURIN
    assert cache_file(tmp_path, Product.TURIN).read_bytes() == pem
    cached = load_cached(tmp_path, Product.TURIN)
    assert cached is not None and cached.ark == chain.ark
    assert load_cached(tmp_path, Product.MILAN) is None


async def test_kds_download_with_wrong_fingerprint_is_refused_and_not_cached(
    tmp_path: Path,
) -> None:
    fetcher = FakeFetcher(default=FetchResult(200, {}, _synth_chain_pem()))
    with pytest.raises(AttestationError) as exc:
        await fetch_cert_chain(fetcher, Product.GENOA, cache_dir=tmp_path)
    assert exc.value.code is Code.AMD_ROOT_UNPINNED
    assert not cache_file(tmp_path, Product.GENOA).exists()


async def test_kds_http_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError):
        await fetch_cert_chain(FakeFetcher(default=NOT_FOUND), Product.GENOA, cache_dir=tmp_path)


def test_tampered_cache_file_is_refused(tmp_path: Path) -> None:
    cache_file(tmp_path, Product.GENOA).write_bytes(_synth_chain_pem())
    with pytest.raises(AttestationError) as exc:
        load_cached(tmp_path, Product.GENOA)
    assert exc.value.code is Code.AMD_ROOT_UNPINNED


def test_pins_are_lowercase_sha256_hex() -> None:
    for value in PINNED_ARK_SHA256.values():
        assert len(value) == 64 and value == value.lower()
        int(value, 16)
