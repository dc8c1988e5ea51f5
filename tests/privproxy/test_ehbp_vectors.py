"""EHBP against tests/data/ehbp: upstream EHBP vectors and the docs/protocol.md §3.8 exchange."""

from __future__ import annotations

import json

import pytest

from privproxy.ehbp import (
    ENCAPSULATED_KEY_HEADER,
    RESPONSE_NONCE_HEADER,
    ResponseSecret,
    derive_response_keys,
)
from privproxy.ehbp.hpke import SenderSetup, encap, load_public_key
from privproxy.ehbp.protocol import HPKE_REQUEST_INFO
from tests.privproxy.test_ehbp_support import load_vector, seal_with_fixed_ephemeral


def test_header_names_match_protocol() -> None:
    assert ENCAPSULATED_KEY_HEADER == "Ehbp-Encapsulated-Key"
    assert RESPONSE_NONCE_HEADER == "Ehbp-Response-Nonce"


def test_derive_vector() -> None:
    v = load_vector("derive.json")
    keys = derive_response_keys(
        bytes.fromhex(v["exportedSecret"]),
        bytes.fromhex(v["requestEnc"]),
        bytes.fromhex(v["responseNonce"]),
    )
    assert keys.key.hex() == v["derivedKey"]
    assert keys.nonce_base.hex() == v["derivedNonceBase"]


def test_response_decryption_vector() -> None:
    v = load_vector("response-decryption.json")
    secret = ResponseSecret(bytes.fromhex(v["exportedSecret"]), bytes.fromhex(v["requestEnc"]))
    decryptor = secret.decryptor(v["responseNonce"])
    assert decryptor.push(bytes.fromhex(v["encryptedResponse"])) == [bytes.fromhex(v["plaintext"])]
    decryptor.finish()
    assert bytes.fromhex(v["plaintext"]) == b"hello from test vector"


def test_response_decryption_vector_uppercase_nonce_accepted() -> None:
    v = load_vector("response-decryption.json")
    secret = ResponseSecret(bytes.fromhex(v["exportedSecret"]), bytes.fromhex(v["requestEnc"]))
    decryptor = secret.decryptor(v["responseNonce"].upper())
    assert decryptor.push(bytes.fromhex(v["encryptedResponse"])) == [bytes.fromhex(v["plaintext"])]


def test_session_recovery_token_round_trip() -> None:
    v = load_vector("session-recovery-token.json")
    secret = ResponseSecret.from_json(v)
    assert secret.exported_secret.hex() == v["exportedSecret"]
    assert secret.enc.hex() == v["requestEnc"]
    assert secret.to_json() == v
    assert ResponseSecret.from_json(json.dumps(v)) == secret


@pytest.mark.parametrize(
    "bad",
    [
        "[]",
        '{"exportedSecret": "00"}',
        '{"exportedSecret": 1, "requestEnc": "00"}',
        '{"exportedSecret": "zz", "requestEnc": "00"}',
        '{"exportedSecret": "' + "00" * 32 + '", "requestEnc": "' + "00" * 31 + '"}',
        '{"exportedSecret": " ' + "00" * 32 + '", "requestEnc": "' + "00" * 32 + '"}',
    ],
)
def test_session_recovery_token_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        ResponseSecret.from_json(bad)


def test_secret_repr_is_redacted() -> None:
    v = load_vector("session-recovery-token.json")
    secret = ResponseSecret.from_json(v)
    assert v["exportedSecret"] not in repr(secret)
    assert v["requestEnc"] not in repr(secret)
    keys = derive_response_keys(secret.exported_secret, secret.enc, bytes(32))
    assert keys.key.hex() not in repr(keys)


def test_exchange_request_side_byte_for_byte() -> None:
    v = load_vector("exchange.json")
    sealed = seal_with_fixed_ephemeral(
        bytes.fromhex(v["serverPublicKey"]),
        bytes.fromhex(v["clientEphemeralPrivateKey"]),
        v["requestPlaintext"].encode(),
    )
    assert sealed.enc_hex == v["requestEnc"]
    assert sealed.enc.hex() == v["requestEnc"]
    assert sealed.body.hex() == v["requestBody"]
    assert len(sealed.body) == 4 + len(v["requestPlaintext"]) + 16
    assert sealed.secret.exported_secret.hex() == v["exportedSecret"]
    assert sealed.secret.enc == sealed.enc
    assert v["requestBody"] not in repr(sealed)


def test_exchange_hpke_key_schedule() -> None:
    """docs/protocol.md §3.8 also pins the request context's key and base nonce."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    v = load_vector("exchange.json")
    enc, shared_secret = encap(
        X25519PrivateKey.from_private_bytes(bytes.fromhex(v["clientEphemeralPrivateKey"])),
        load_public_key(bytes.fromhex(v["serverPublicKey"])),
    )
    context = SenderSetup(HPKE_REQUEST_INFO).schedule(shared_secret)
    assert enc.hex() == v["requestEnc"]
    assert context.key.hex() == "64c1ea917e2a91083a4e0c497c0d973a38144205155fc8c66cc8c8cc3d83907b"
    assert context.base_nonce.hex() == "36035e74abb5c0a17e9ca079"
    assert "64c1ea91" not in repr(context)


def test_exchange_response_keys() -> None:
    v = load_vector("exchange.json")
    keys = derive_response_keys(
        bytes.fromhex(v["exportedSecret"]),
        bytes.fromhex(v["requestEnc"]),
        bytes.fromhex(v["responseNonce"]),
    )
    assert keys.key.hex() == v["derivedKey"]
    assert keys.nonce_base.hex() == v["derivedNonceBase"]


@pytest.mark.parametrize("piece", [1, 7, 4, 121, 155, 1000])
def test_exchange_response_in_pieces(piece: int) -> None:
    v = load_vector("exchange.json")
    secret = ResponseSecret(bytes.fromhex(v["exportedSecret"]), bytes.fromhex(v["requestEnc"]))
    decryptor = secret.decryptor(v["responseNonce"])
    body = bytes.fromhex(v["responseBody"])
    assert len(body) == 155
    out: list[bytes] = []
    for i in range(0, len(body), piece):
        out.extend(decryptor.push(body[i : i + piece]))
    decryptor.finish()
    assert [p.decode() for p in out] == v["responsePlaintextFrames"]


def test_exchange_first_frame_released_before_second_arrives() -> None:
    v = load_vector("exchange.json")
    secret = ResponseSecret(bytes.fromhex(v["exportedSecret"]), bytes.fromhex(v["requestEnc"]))
    decryptor = secret.decryptor(v["responseNonce"])
    body = bytes.fromhex(v["responseBody"])
    # Frame 0 is 4 + 117 = 121 bytes; one byte more must not hold it back.
    assert [p.decode() for p in decryptor.push(body[:122])] == v["responsePlaintextFrames"][:1]
    assert [p.decode() for p in decryptor.push(body[122:])] == v["responsePlaintextFrames"][1:]
    decryptor.finish()
