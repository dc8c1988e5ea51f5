"""AMD root pinning: shipped roots, pinned loading and overrides, refusal of other roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from attestation import trustdata
from attestation.errors import AttestationError, Code
from attestation.sev.abi import Product
from attestation.sev.roots import PINNED_ARK_SHA256, AmdTrust, check_pins, parse_chain_pem
from attestation.trust import Trust
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


def test_shipped_roots_cover_every_product_and_equal_amds_files() -> None:
    shipped = AmdTrust.shipped()
    assert shipped.pinned and shipped.products() == frozenset(Product)
    for path in amd_chain_files():
        chain = parse_chain_pem(path.read_bytes())
        assert shipped.chain_for(chain.product).ark == chain.ark
        assert shipped.chain_for(chain.product).ask == chain.ask


def test_a_changed_shipped_file_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same names as AMD's Genoa chain, other keys: the pins, not the file, decide.
    real = trustdata.read
    monkeypatch.setattr(
        trustdata,
        "read",
        lambda name: _synth_chain_pem() if name.startswith("Genoa") else real(name),
    )
    with pytest.raises(AttestationError) as exc:
        AmdTrust.shipped()
    assert exc.value.code is Code.AMD_ROOT_UNPINNED


def test_override_file_must_still_match_the_pins(tmp_path: Path) -> None:
    synth = tmp_path / "Genoa_cert_chain.pem"
    synth.write_bytes(_synth_chain_pem())
    with pytest.raises(AttestationError) as exc:
        Trust.production(amd_chain_files=[synth])
    assert exc.value.code is Code.AMD_ROOT_UNPINNED
    genoa = next(p for p in amd_chain_files() if p.name.startswith("Genoa"))
    trust = Trust.production(amd_chain_files=[genoa])
    assert trust.amd.pinned and trust.amd.products() == frozenset(Product)


def test_pinned_and_unpinned_roots_do_not_mix() -> None:
    with pytest.raises(AttestationError) as exc:
        AmdTrust.shipped().overridden_by(synth_amd())
    assert exc.value.code is Code.TRUST_ROOT_INVALID


def test_pins_are_lowercase_sha256_hex() -> None:
    for value in PINNED_ARK_SHA256.values():
        assert len(value) == 64 and value == value.lower()
        int(value, 16)
