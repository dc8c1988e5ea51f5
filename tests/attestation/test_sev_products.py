"""Milan / Genoa / Turin end to end on generated chains (no real Milan/Turin VCEK exists here).

Each test builds an ARK → ASK → VCEK chain with the product's names and KDS extensions
(Turin: FMC_SPL and an 8-byte HWID, stored raw or as an OCTET STRING), re-signs the synthetic
report with the product's CPUID and TCB layout, and verifies it through the public verifier
with unpinned trust. Also covers v2 reports (no CPUID, Genoa assumed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from attestation.errors import AttestationError, Code
from attestation.sev import SevPolicy, parse_report, verify_sev_evidence
from attestation.sev.abi import Product
from attestation.sev.roots import AmdTrust
from tests.attestation.realdata import FIXED_NOW, patch, synth_base_report

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_AMD = "1.3.6.1.4.1.3704.1"
_FMS = {Product.MILAN: (0x19, 0x01), Product.GENOA: (0x19, 0x11), Product.TURIN: (0x1A, 0x02)}
_TCB = {"bl_spl": 8, "tee_spl": 1, "snp_spl": 20, "ucode_spl": 80, "fmc_spl": 3}


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Advanced Micro Devices"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ext(oid: str, der: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{_AMD}.{oid}"), der)


def _int(n: int) -> bytes:
    return bytes([0x02, 1, n])


@dataclass
class _Chain:
    trust: AmdTrust
    vcek_der: bytes
    vcek_key: ec.EllipticCurvePrivateKey


def _builder(subject: str, issuer: str, public_key: object) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    )


def _chain(product: Product, hwid: bytes, *, wrap_hwid: bool, tcb: dict[str, int]) -> _Chain:
    p = product.value
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ask_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    vcek_key = ec.generate_private_key(ec.SECP384R1())
    ark = _builder(f"ARK-{p}", f"ARK-{p}", ark_key.public_key()).sign(
        ark_key, hashes.SHA384(), rsa_padding=_PSS
    )
    ask = _builder(f"SEV-{p}", f"ARK-{p}", ask_key.public_key()).sign(
        ark_key, hashes.SHA384(), rsa_padding=_PSS
    )
    exts = [_ext("1", _int(1)), _ext("2", bytes([0x16, len(p)]) + p.encode())]
    spl_oids = {"bl_spl": "3.1", "tee_spl": "3.2", "snp_spl": "3.3", "ucode_spl": "3.8"}
    if product is Product.TURIN:
        spl_oids["fmc_spl"] = "3.9"
    exts += [_ext(oid, _int(tcb[key])) for key, oid in spl_oids.items()]
    exts.append(_ext("4", bytes([0x04, len(hwid)]) + hwid if wrap_hwid else hwid))
    builder = _builder("SEV-VCEK", f"SEV-{p}", vcek_key.public_key())
    for ext in exts:
        builder = builder.add_extension(ext, critical=False)
    vcek = builder.sign(ask_key, hashes.SHA384(), rsa_padding=_PSS)
    pem = serialization.Encoding.PEM
    trust = AmdTrust.unpinned_for_testing(ark.public_bytes(pem), ask.public_bytes(pem))
    return _Chain(trust, vcek.public_bytes(serialization.Encoding.DER), vcek_key)


def _tcb_u64(product: Product, tcb: dict[str, int]) -> bytes:
    """TCB_VERSION bytes (docs/attestation.md V2.1): Turin [fmc, bl, tee, snp, 0, 0, 0, ucode],
    else the Genoa layout."""
    if product is Product.TURIN:
        head = [tcb["fmc_spl"], tcb["bl_spl"], tcb["tee_spl"], tcb["snp_spl"], 0, 0, 0]
    else:
        head = [tcb["bl_spl"], tcb["tee_spl"], 0, 0, 0, 0, tcb["snp_spl"]]
    return bytes([*head, tcb["ucode_spl"]])


def _report(product: Product, chain: _Chain, hwid: bytes, tcb: dict[str, int]) -> bytes:
    raw = synth_base_report()
    family, model = _FMS[product]
    raw = patch(raw, 0x188, bytes([family, model, 0]))
    word = _tcb_u64(product, tcb)
    for offset in (0x38, 0x180, 0x1E0, 0x1F0):  # current, reported, committed, launch
        raw = patch(raw, offset, word)
    raw = patch(raw, 0x1A0, hwid.ljust(64, b"\0"))
    r, s = decode_dss_signature(chain.vcek_key.sign(raw[:0x2A0], ec.ECDSA(hashes.SHA384())))
    return raw[:0x2A0] + r.to_bytes(72, "little") + s.to_bytes(72, "little") + raw[0x2A0 + 144 :]


def _hwid(product: Product) -> bytes:
    return bytes(range(1, 9)) if product is Product.TURIN else bytes(range(1, 65))


@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("wrap_hwid", [False, True])
def test_product_chain_verifies(product: Product, wrap_hwid: bool) -> None:
    hwid = _hwid(product)
    chain = _chain(product, hwid, wrap_hwid=wrap_hwid, tcb=_TCB)
    raw = _report(product, chain, hwid, _TCB)
    report = parse_report(raw)
    assert report.product is product
    assert report.reported_tcb.bl_spl == _TCB["bl_spl"]
    assert report.reported_tcb.ucode_spl == _TCB["ucode_spl"]
    verified = verify_sev_evidence(
        raw, chain.vcek_der, policy=SevPolicy.production(), trust=chain.trust, now=FIXED_NOW
    )
    assert verified.product is product


def test_turin_fmc_spl_mismatch() -> None:
    hwid = _hwid(Product.TURIN)
    chain = _chain(Product.TURIN, hwid, wrap_hwid=False, tcb={**_TCB, "fmc_spl": 4})
    raw = _report(Product.TURIN, chain, hwid, _TCB)
    with pytest.raises(AttestationError) as exc:
        verify_sev_evidence(
            raw, chain.vcek_der, policy=SevPolicy.production(), trust=chain.trust, now=FIXED_NOW
        )
    assert exc.value.code is Code.VCEK_TCB_MISMATCH


def test_vcek_for_another_product_is_refused() -> None:
    hwid = _hwid(Product.GENOA)
    chain = _chain(Product.MILAN, hwid, wrap_hwid=False, tcb=_TCB)
    raw = _report(Product.GENOA, chain, hwid, _TCB)  # Genoa report, Milan chain
    with pytest.raises(AttestationError) as exc:
        verify_sev_evidence(
            raw, chain.vcek_der, policy=SevPolicy.production(), trust=chain.trust, now=FIXED_NOW
        )
    assert exc.value.code is Code.TRUST_ROOT_INVALID  # no Genoa ARK/ASK in this trust


def test_v2_report_is_genoa() -> None:
    hwid = _hwid(Product.GENOA)
    chain = _chain(Product.GENOA, hwid, wrap_hwid=False, tcb=_TCB)
    raw = _report(Product.GENOA, chain, hwid, _TCB)
    raw = patch(patch(raw, 0, (2).to_bytes(4, "little")), 0x188, bytes(3))
    r, s = decode_dss_signature(chain.vcek_key.sign(raw[:0x2A0], ec.ECDSA(hashes.SHA384())))
    raw = raw[:0x2A0] + r.to_bytes(72, "little") + s.to_bytes(72, "little") + raw[0x2A0 + 144 :]
    report = parse_report(raw)
    assert report.version == 2 and report.cpuid_fms is None and report.product is Product.GENOA
    verify_sev_evidence(
        raw, chain.vcek_der, policy=SevPolicy.production(), trust=chain.trust, now=FIXED_NOW
    )
    with pytest.raises(AttestationError) as exc:
        parse_report(patch(raw, 0x188, b"\x19"))  # v2: CPUID bytes must be zero
    assert exc.value.code is Code.REPORT_FORMAT_UNSUPPORTED
