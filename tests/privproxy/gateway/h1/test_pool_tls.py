"""`Pool` over HTTPS: a context trusting the server's CA works (hostname checked), the default
context (system trust store) refuses a certificate it does not trust."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from privproxy.gateway.h1 import ConnectError, ConnectTimeoutError
from tests.privproxy.gateway.h1.raw_server import (
    RawServer,
    answering,
    body_of,
    chunked,
    pool_for,
    reply,
)

X509_V_ERR_IP_ADDRESS_MISMATCH = 64


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_certs(
    directory: Path, names: Sequence[str] = ("localhost", "127.0.0.1")
) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate it signed for `names` (DNS names or IP
    addresses): (CA certificate, server chain, server key) as PEM files in `directory`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("h1 test CA"))
        .issuer_name(_name("h1 test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    chain_path = directory / "server.pem"
    key_path = directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, chain_path, key_path


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[RawServer, Path]]:
    """A TLS server answering keep-alive requests, and its CA certificate."""
    ca_path, chain_path, key_path = make_certs(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_path, key_path)
    server = RawServer(answering(reply(b"over tls"), chunked(b"chunked ", b"over tls")), context)
    await server.start()
    try:
        yield server, ca_path
    finally:
        await server.stop()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_https_with_a_trusting_context(tls_server: tuple[RawServer, Path], host: str) -> None:
    server, ca_path = tls_server
    context = ssl.create_default_context(cafile=str(ca_path))
    async with pool_for(f"https://{host}:{server.port}/api", ssl_context=context) as pool:
        resp = await pool.request("POST", "/x", body=b"secret")
        assert resp.status == 200
        assert await body_of(resp) == b"over tls"
        resp.release()
        resp = await pool.request("POST", "/y", body=b"again")
        assert await body_of(resp) == b"chunked over tls"
        resp.release()
    assert len(server.conns) == 1  # kept alive over TLS too
    first, second = server.requests
    assert first.head.startswith(
        b"POST /api/x HTTP/1.1\r\nHost: %s:%d\r\n" % (host.encode(), server.port)
    )
    assert (first.body, second.body) == (b"secret", b"again")


async def test_https_default_context_refuses_an_untrusted_certificate(
    tls_server: tuple[RawServer, Path],
) -> None:
    server, _ = tls_server
    async with pool_for(f"https://localhost:{server.port}") as pool:
        with pytest.raises(ConnectError) as info:
            await pool.request("GET", "/")
        assert not isinstance(info.value, ConnectTimeoutError)
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert server.requests == []


async def test_https_hostname_is_checked(tmp_path: Path) -> None:
    ca_path, chain_path, key_path = make_certs(tmp_path, names=["elsewhere.test"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_path, key_path)
    server = RawServer(answering(reply()), context)
    await server.start()
    try:
        trusting = ssl.create_default_context(cafile=str(ca_path))
        async with pool_for(f"https://127.0.0.1:{server.port}", ssl_context=trusting) as pool:
            with pytest.raises(ConnectError) as info:
                await pool.request("GET", "/")
    finally:
        await server.stop()
    cause = info.value.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert cause.verify_code == X509_V_ERR_IP_ADDRESS_MISMATCH
    assert server.requests == []
