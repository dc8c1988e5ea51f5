"""A simulated AMD key-distribution chain: ARK -> ASK -> VCEK, generated in memory.

Shapes follow the real Genoa chain (docs/attestation.md V2.2) so that the production SEV-SNP
verifier accepts it when, and only when, it is told to trust this ARK explicitly:

* ARK (`CN=ARK-<product>`) self-signed, ASK (`CN=SEV-<product>`) signed by the ARK, VCEK
  (`CN=SEV-VCEK`, EC P-384) signed by the ASK, all RSASSA-PSS with SHA-384, MGF1-SHA-384 and a
  48-byte salt, subject and issuer names in AMD's attribute order.
* The VCEK carries only AMD's KDS extensions (OIDs under 1.3.6.1.4.1.3704.1), in the order and
  with the encodings of a real KDS VCEK: struct version INTEGER, product name IA5String, one
  INTEGER per TCB component, and the 64-byte HWID stored raw (not wrapped in an OCTET STRING).

RSA keys are 2048 bits instead of AMD's 4096 to keep generation well under a second; nothing
in the wire format depends on the size. Private keys never leave this process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from privproxy.simulator import der

AMD_KDS_OID: Final = "1.3.6.1.4.1.3704.1"
_PSS: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_DAY: Final = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TcbVersion:
    """A Milan/Genoa TCB_VERSION (struct v0): bl = byte 0, tee = 1, snp = 6, ucode = 7."""

    bl: int
    tee: int
    snp: int
    ucode: int

    def to_bytes(self) -> bytes:
        """The 8-byte little-endian TCB_VERSION as it appears in the report."""
        return bytes([self.bl, self.tee, 0, 0, 0, 0, self.snp, self.ucode])


def amd_name(common_name: str) -> x509.Name:
    """AMD's distinguished name, attributes in the order the real certificates use."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Advanced Micro Devices"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _kds(suffix: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{AMD_KDS_OID}.{suffix}"), value)


def vcek_extensions(product: str, tcb: TcbVersion, hwid: bytes) -> list[x509.UnrecognizedExtension]:
    """The KDS extensions of a VCEK, in a real VCEK's order (3.3 and 3.8 come after 3.7)."""
    return [
        _kds("1", der.integer(0)),
        _kds("2", der.ia5_string(product)),
        _kds("3.1", der.integer(tcb.bl)),
        _kds("3.2", der.integer(tcb.tee)),
        _kds("3.4", der.integer(0)),
        _kds("3.5", der.integer(0)),
        _kds("3.6", der.integer(0)),
        _kds("3.7", der.integer(0)),
        _kds("3.3", der.integer(tcb.snp)),
        _kds("3.8", der.integer(tcb.ucode)),
        _kds("4", hwid),
    ]


@dataclass(frozen=True, slots=True, eq=False)
class Vcek:
    """A VCEK certificate and its private key (which signs attestation reports)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    hwid: bytes
    tcb: TcbVersion

    def der(self) -> bytes:
        """DER bytes, as the bundle's `vcek` field carries them (base64 of this)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True, eq=False)
class AmdChain:
    """A simulated ARK and ASK for one product, able to issue VCEKs."""

    product: str
    ark: x509.Certificate
    ask: x509.Certificate
    _ask_key: rsa.RSAPrivateKey = field(repr=False)
    _ark_key: rsa.RSAPrivateKey | None = field(default=None, repr=False)  # signs the CRL

    def cert_chain_pem(self) -> bytes:
        """ASK then ARK in PEM, the layout AMD KDS serves at `/vcek/v1/<product>/cert_chain`."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.ask, self.ark))

    def issue_vcek(self, *, hwid: bytes, tcb: TcbVersion, now: dt.datetime) -> Vcek:
        """Issue a VCEK for chip `hwid` at reported TCB `tcb` (valid now - 30 days .. + 7 years)."""
        if len(hwid) != 64:
            raise ValueError("a Genoa HWID is 64 bytes")
        key = ec.generate_private_key(ec.SECP384R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(amd_name("SEV-VCEK"))
            .issuer_name(self.ask.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - 30 * _DAY)
            .not_valid_after(now + 7 * 365 * _DAY)
        )
        for ext in vcek_extensions(self.product, tcb, hwid):
            builder = builder.add_extension(ext, critical=False)
        cert = builder.sign(self._ask_key, hashes.SHA384(), rsa_padding=_PSS)
        return Vcek(certificate=cert, private_key=key, hwid=hwid, tcb=tcb)

    def crl_der(self, *, now: dt.datetime, revoked: tuple[int, ...] = ()) -> bytes:
        """The ARK-signed CRL (as KDS serves at `/vcek/v1/<product>/crl`), valid 30 days."""
        if self._ark_key is None:
            raise ValueError("this chain was built without its ARK key")
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ark.subject)
            .last_update(now - _DAY)
            .next_update(now + 30 * _DAY)
        )
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - _DAY)
                .build()
            )
        crl = builder.sign(self._ark_key, hashes.SHA384(), rsa_padding=_PSS)
        return crl.public_bytes(serialization.Encoding.DER)


def generate_amd_chain(
    now: dt.datetime, *, product: str = "Genoa", key_size: int = 2048
) -> AmdChain:
    """A fresh ARK/ASK pair for `product` (in memory only)."""
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    ask_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    ark_ski = x509.SubjectKeyIdentifier.from_public_key(ark_key.public_key())
    ark = (
        x509.CertificateBuilder()
        .subject_name(amd_name(f"ARK-{product}"))
        .issuer_name(amd_name(f"ARK-{product}"))
        .public_key(ark_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 365 * _DAY)
        .not_valid_after(now + 25 * 365 * _DAY)
        .add_extension(_key_usage(crl_sign=True), critical=True)
        .add_extension(ark_ski, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ark_key, hashes.SHA384(), rsa_padding=_PSS)
    )
    ask = (
        x509.CertificateBuilder()
        .subject_name(amd_name(f"SEV-{product}"))
        .issuer_name(ark.subject)
        .public_key(ask_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 300 * _DAY)
        .not_valid_after(now + 25 * 365 * _DAY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ask_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ark_ski), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(crl_sign=False), critical=True)
        .add_extension(_crl_point(product), critical=False)
        .sign(ark_key, hashes.SHA384(), rsa_padding=_PSS)
    )
    return AmdChain(product=product, ark=ark, ask=ask, _ask_key=ask_key, _ark_key=ark_key)


def _crl_point(product: str) -> x509.CRLDistributionPoints:
    # Real ASKs name KDS's `/vcek/v1/<product>/crl`; v3 verifiers require the `/crl` path.
    url = f"https://kds.simulated.invalid/vcek/v1/{product}/crl"
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return x509.CRLDistributionPoints([point])


def _key_usage(*, crl_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


__all__ = ["AMD_KDS_OID", "AmdChain", "TcbVersion", "Vcek", "amd_name", "generate_amd_chain"]
