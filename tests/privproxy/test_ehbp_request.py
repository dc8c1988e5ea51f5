"""Request sealing (pyhpke as independent recipient, 64 KiB frame boundary) and key config."""

from __future__ import annotations

import hmac
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

from privproxy.ehbp import (
    MAX_REQUEST_FRAME,
    EhbpProtocolError,
    KeyConfig,
    parse_key_config,
    seal_request,
)
from privproxy.ehbp.hmac256 import hmac_sha256
from tests.privproxy.test_ehbp_support import load_vector

SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)


def _split_frames(body: bytes | bytearray) -> list[bytes]:
    frames: list[bytes] = []
    pos = 0
    while pos < len(body):
        length = int.from_bytes(body[pos : pos + 4], "big")
        frames.append(bytes(body[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    assert pos == len(body)
    return frames


def _open_with_pyhpke(
    private_key: bytes, enc: bytes, body: bytes | bytearray
) -> tuple[bytes, bytes]:
    """Recipient side (what the enclave does): returns (plaintext, exported secret)."""
    skr = SUITE.kem.deserialize_private_key(private_key)
    context = SUITE.create_recipient_context(enc, skr, info=b"ehbp request")
    plaintext = b"".join(context.open(ct) for ct in _split_frames(body))
    exported: bytes = context.export(b"ehbp response", 32)
    return plaintext, exported


def _server_key() -> tuple[bytes, bytes]:
    sk = X25519PrivateKey.generate()
    return sk.private_bytes_raw(), sk.public_key().public_bytes_raw()


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        300,
        MAX_REQUEST_FRAME - 1,
        MAX_REQUEST_FRAME,
        MAX_REQUEST_FRAME + 1,
        3 * MAX_REQUEST_FRAME,
        200_000,
    ],
)
def test_pyhpke_recipient_opens_what_we_seal(size: int) -> None:
    sk, pk = _server_key()
    plaintext = os.urandom(size)
    sealed = seal_request(pk, plaintext)
    opened, exported = _open_with_pyhpke(sk, sealed.enc, sealed.body)
    assert opened == plaintext
    assert exported == sealed.secret.exported_secret
    frames = _split_frames(sealed.body)
    assert len(frames) == max(1, -(-size // MAX_REQUEST_FRAME))
    assert all(len(f) <= MAX_REQUEST_FRAME + 16 for f in frames)
    assert len(sealed.body) == size + 20 * len(frames)


def test_exchange_vector_opened_by_pyhpke() -> None:
    v = load_vector("exchange.json")
    opened, exported = _open_with_pyhpke(
        bytes.fromhex(v["serverPrivateKey"]),
        bytes.fromhex(v["requestEnc"]),
        bytes.fromhex(v["requestBody"]),
    )
    assert opened == v["requestPlaintext"].encode()
    assert exported.hex() == v["exportedSecret"]


def test_small_frame_size_uses_successive_sequence_numbers() -> None:
    sk, pk = _server_key()
    plaintext = b"0123456789" * 10
    sealed = seal_request(pk, plaintext, frame_size=7)
    assert len(_split_frames(sealed.body)) == 15
    assert _open_with_pyhpke(sk, sealed.enc, sealed.body)[0] == plaintext


@pytest.mark.parametrize("frame_size", [0, -1, MAX_REQUEST_FRAME + 1])
def test_frame_size_bounds(frame_size: int) -> None:
    _, pk = _server_key()
    with pytest.raises(ValueError):
        seal_request(pk, b"x", frame_size=frame_size)


def test_fresh_ephemeral_key_per_request() -> None:
    _, pk = _server_key()
    a, b = seal_request(pk, b"same"), seal_request(pk, b"same")
    assert a.enc != b.enc
    assert a.body != b.body
    assert a.secret.exported_secret != b.secret.exported_secret
    assert a.enc_hex == a.enc.hex() and len(a.enc_hex) == 64 and a.enc_hex.islower()


@pytest.mark.parametrize("key", [b"", b"\x01" * 31, b"\x01" * 33])
def test_invalid_public_key_length(key: bytes) -> None:
    with pytest.raises(EhbpProtocolError):
        seal_request(key, b"x")


def test_low_order_public_key_rejected() -> None:
    # The all-zero point is of small order: the X25519 agreement yields all zeros (RFC 9180 7.1.4).
    with pytest.raises(EhbpProtocolError):
        seal_request(bytes(32), b"x")


# --- key config (docs/protocol.md §3.2) ---------------------------------------------------------

EXCHANGE_PK = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
BARE = bytes.fromhex("00" + "0020" + EXCHANGE_PK + "0004" + "0001" + "0002")


def test_key_config_bare_41_bytes() -> None:
    assert len(BARE) == 41
    assert parse_key_config(BARE) == KeyConfig(0, 0x20, bytes.fromhex(EXCHANGE_PK), 1, 2)


def test_key_config_length_prefixed_list() -> None:
    other = bytes.fromhex("05" + "0020" + "11" * 32 + "0004" + "0001" + "0002")
    data = len(BARE).to_bytes(2, "big") + BARE + len(other).to_bytes(2, "big") + other
    assert parse_key_config(data).public_key.hex() == EXCHANGE_PK


def test_key_config_first_suite_of_several() -> None:
    cfg = bytes.fromhex("07" + "0020" + EXCHANGE_PK + "0008" + "00010002" + "00010001")
    parsed = parse_key_config(cfg)
    assert (parsed.key_id, parsed.kdf_id, parsed.aead_id) == (7, 1, 2)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        BARE[:40],
        BARE + b"\x00",
        bytes.fromhex("00" + "0010" + EXCHANGE_PK + "000400010002"),  # P-256 KEM
        bytes.fromhex("00" + "0020" + EXCHANGE_PK + "000400020002"),  # HKDF-SHA384
        bytes.fromhex("00" + "0020" + EXCHANGE_PK + "000400010001"),  # AES-128-GCM
        bytes.fromhex("00" + "0020" + EXCHANGE_PK + "000400010003"),  # ChaCha20-Poly1305
        bytes.fromhex("00" + "0020" + EXCHANGE_PK + "0000"),  # no suites
        bytes.fromhex("00" + "0020" + EXCHANGE_PK + "000300010002"),  # odd suite length
        b"\x00\x29" + BARE[:40],  # list entry shorter than declared
    ],
)
def test_key_config_rejections(data: bytes) -> None:
    with pytest.raises(EhbpProtocolError):
        parse_key_config(data)


@pytest.mark.parametrize("key_len", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("msg_len", [0, 13, 64, 1000])
def test_hmac_sha256_matches_stdlib(key_len: int, msg_len: int) -> None:
    key, msg = os.urandom(key_len), os.urandom(msg_len)
    assert hmac_sha256(key, msg) == hmac.digest(key, msg, "sha256")
