"""The enclave (server) side of EHBP, written independently of the client in `privproxy.ehbp`.

Request (docs/protocol.md §3.3): `SetupBaseR(enc, skR, info="ehbp request")` with pyhpke, then open
`uint32be len || ciphertext` frames with successive sequence numbers, skipping empty ones.
As in the Go middleware, a failure to open the *first* frame means the client sealed to a
key we do not hold (422 key-config); any other framing or AEAD failure is a 400.

Response (docs/protocol.md §3.4): `prk = HMAC-SHA256(enc || nonce, Export("ehbp response", 32))`,
`key = HKDF-Expand(prk, "key", 32)`, `nonce_base = HKDF-Expand(prk, "nonce", 12)`; each write
is one frame sealed with AES-256-GCM under `nonce_base XOR seq`. Only the wire constants are
shared with the client package, so a bug on one side cannot hide on the other.
"""

from __future__ import annotations

import hmac
import os
import re
import struct
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

from privproxy.ehbp.protocol import (
    AEAD_NONCE_LENGTH,
    AES_KEY_LENGTH,
    EXPORT_LENGTH,
    FRAME_HEADER_LENGTH,
    HPKE_EXPORT_LABEL,
    HPKE_REQUEST_INFO,
    RESPONSE_KEY_LABEL,
    RESPONSE_NONCE_LABEL,
    RESPONSE_NONCE_LENGTH,
)

_SUITE: Final = CipherSuite.new(
    KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM
)
_ENC_HEX: Final = re.compile(r"[0-9a-f]{64}")


class RequestRejectedError(Exception):
    """The sealed request could not be opened; `status` is what the Go middleware answers."""

    def __init__(self, status: int, title: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title


def open_request(private_key: X25519PrivateKey, enc_hex: str, body: bytes) -> tuple[bytes, bytes]:
    """Decrypt a sealed body. Returns `(plaintext, exported_secret)`.

    Raises `RequestRejectedError(400)` for a bad header or framing, `RequestRejectedError(422)` when
    the first frame does not open (stale or wrong key).
    """
    if not _ENC_HEX.fullmatch(enc_hex):
        raise RequestRejectedError(400, "failed to decrypt request")
    enc = bytes.fromhex(enc_hex)
    try:
        skr = _SUITE.kem.deserialize_private_key(private_key.private_bytes_raw())
        ctx = _SUITE.create_recipient_context(enc, skr, info=HPKE_REQUEST_INFO)
    except Exception as exc:  # pyhpke raises its own hierarchy for bad points
        raise RequestRejectedError(400, "failed to decrypt request") from exc
    parts: list[bytes] = []
    offset, opened = 0, 0
    while offset < len(body):
        if len(body) - offset < FRAME_HEADER_LENGTH:
            raise RequestRejectedError(400, "failed to read decrypted request body")
        (length,) = struct.unpack_from(">I", body, offset)
        offset += FRAME_HEADER_LENGTH
        if length > len(body) - offset:
            raise RequestRejectedError(400, "failed to read decrypted request body")
        ciphertext = body[offset : offset + length]
        offset += length
        if not ciphertext:
            continue  # empty frames carry nothing and consume no sequence number
        try:
            parts.append(ctx.open(ciphertext))
        except Exception as exc:
            # The Go middleware probes the first frame before the handler runs: a failure
            # there is a key-configuration mismatch (docs/protocol.md §3.3).
            status = 422 if opened == 0 else 400
            raise RequestRejectedError(status, "failed to read decrypted request body") from exc
        opened += 1
    if opened == 0:
        raise RequestRejectedError(400, "failed to read decrypted request body")
    return b"".join(parts), ctx.export(HPKE_EXPORT_LABEL, EXPORT_LENGTH)


def _expand(prk: bytes, label: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, label).derive(prk)


class ResponseSealer:
    """Seals response writes as EHBP frames for one request."""

    def __init__(self, exported_secret: bytes, enc: bytes, nonce: bytes | None = None) -> None:
        self.nonce = nonce if nonce is not None else os.urandom(RESPONSE_NONCE_LENGTH)
        prk = hmac.digest(enc + self.nonce, exported_secret, "sha256")
        self._aead = AESGCM(_expand(prk, RESPONSE_KEY_LABEL, AES_KEY_LENGTH))
        self._nonce_base = int.from_bytes(_expand(prk, RESPONSE_NONCE_LABEL, AEAD_NONCE_LENGTH))
        self._seq = 0

    @property
    def nonce_hex(self) -> str:
        """Value of the `Ehbp-Response-Nonce` header."""
        return self.nonce.hex()

    def seal(self, plaintext: bytes) -> bytes:
        """One frame: `uint32be(len(ct)) || ct` for the next sequence number."""
        if not plaintext:
            return b""
        nonce = (self._nonce_base ^ self._seq).to_bytes(AEAD_NONCE_LENGTH, "big")
        self._seq += 1
        ciphertext = self._aead.encrypt(nonce, plaintext, None)
        return struct.pack(">I", len(ciphertext)) + ciphertext


__all__ = ["RequestRejectedError", "ResponseSealer", "open_request"]
