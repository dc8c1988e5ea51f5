"""Shared EHBP test support (no tests): fixture loading and an independent response sealer."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privproxy.ehbp import ResponseKeys
from tests.conftest import data_path


def load_vector(name: str) -> dict[str, Any]:
    """One of ../shared/fixtures/ehbp/*.json (skips when the shared material is absent)."""
    data: dict[str, Any] = json.loads(data_path("ehbp", name).read_text())
    return data


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
