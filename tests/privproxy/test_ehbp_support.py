"""Shared EHBP test support (no tests): fixture loading, fixed-key sealing, a response sealer."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privproxy.ehbp import ResponseKeys, SealedRequest
from privproxy.ehbp.hpke import SenderSetup, encap, load_public_key
from privproxy.ehbp.protocol import HPKE_REQUEST_INFO
from privproxy.ehbp.request import seal_with_context
from tests.conftest import data_path


def load_vector(name: str) -> dict[str, Any]:
    """One of tests/data/ehbp/*.json."""
    data: dict[str, Any] = json.loads(data_path("ehbp", name).read_text())
    return data


def seal_with_fixed_ephemeral(
    public_key: bytes, ephemeral_private_key: bytes, plaintext: bytes
) -> SealedRequest:
    """What `seal_request` does, but with a chosen ephemeral key, to reproduce fixed vectors."""
    enc, shared_secret = encap(
        X25519PrivateKey.from_private_bytes(ephemeral_private_key), load_public_key(public_key)
    )
    context = SenderSetup(HPKE_REQUEST_INFO).schedule(shared_secret)
    return seal_with_context(enc, context, plaintext)


def frame(ciphertext: bytes) -> bytes:
    """`uint32be(len) || ciphertext`, written here independently of privproxy.ehbp.framing."""
    return len(ciphertext).to_bytes(4, "big") + ciphertext


def seal_response(keys: ResponseKeys, chunks: list[bytes]) -> bytes:
    """What the Go server does per `Write`: AES-256-GCM with nonce_base XOR i, empty AAD."""
    aead = AESGCM(keys.key)
    base = int.from_bytes(keys.nonce_base, "big")
    return b"".join(
        frame(aead.encrypt((base ^ i).to_bytes(12, "big"), chunk, None))
        for i, chunk in enumerate(chunks)
    )
