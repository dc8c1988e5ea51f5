"""Request sealing (docs/protocol.md §3.3): HPKE SetupBaseS, 64 KiB frames, response secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from privproxy.ehbp.errors import EhbpProtocolError
from privproxy.ehbp.framing import seal_frames
from privproxy.ehbp.hpke import SenderContext, SenderSetup, load_public_key
from privproxy.ehbp.protocol import (
    EXPORT_LENGTH,
    HPKE_EXPORT_LABEL,
    HPKE_REQUEST_INFO,
    MAX_REQUEST_FRAME,
)
from privproxy.ehbp.secret import ResponseSecret

_SETUP = SenderSetup(HPKE_REQUEST_INFO)


@dataclass(frozen=True, slots=True, eq=False)
class SealedRequest:
    """A sealed request body and what is needed to send it and open its response.

    `body` is every frame, ready to send with `Content-Length` (`bytes` for a one-frame body, a
    `bytearray` for a multi-frame one: pass it to the HTTP client as-is and do not modify it);
    `enc_hex` is the value of the `Ehbp-Encapsulated-Key` header; `secret` opens the response.
    Ciphertext is not shown in `repr`.
    """

    body: bytes | bytearray = field(repr=False)
    enc: bytes = field(repr=False)
    secret: ResponseSecret = field(repr=False)

    @property
    def enc_hex(self) -> str:
        """Lowercase hex of `enc`, the `Ehbp-Encapsulated-Key` header value."""
        return self.enc.hex()

    def __repr__(self) -> str:
        return f"SealedRequest(body=<{len(self.body)} bytes>)"


@lru_cache(maxsize=16)
def _public_key(public_key: bytes) -> X25519PublicKey:
    # The enclave key changes only on rotation; parsing it once per key saves work per request.
    try:
        return load_public_key(public_key)
    except ValueError:
        raise EhbpProtocolError("enclave HPKE public key is not a valid X25519 key") from None


def seal_request(
    public_key: bytes, plaintext: bytes | bytearray, *, frame_size: int = MAX_REQUEST_FRAME
) -> SealedRequest:
    """Seal `plaintext` for the enclave key `public_key` (32 raw X25519 bytes).

    Every call draws a fresh ephemeral key; there is deliberately no way to pass one in.
    """
    raw = bytes(public_key)
    pk = _public_key(raw)
    try:
        enc, context = _SETUP.setup(pk, public_key_bytes=raw)
    except ValueError:
        # cryptography rejects an all-zero shared secret (a low-order public key; RFC 9180 7.1.4).
        raise EhbpProtocolError("enclave HPKE public key is not usable") from None
    return seal_with_context(enc, context, plaintext, frame_size=frame_size)


def seal_with_context(
    enc: bytes,
    context: SenderContext,
    plaintext: bytes | bytearray,
    *,
    frame_size: int = MAX_REQUEST_FRAME,
) -> SealedRequest:
    """Frame and seal `plaintext` under an HPKE sender `context` set up for `enc`.

    Split from `seal_request` so tests can reproduce fixed vectors with a context they set up
    themselves, without the production entry point accepting a chosen ephemeral key.
    """
    body = seal_frames(context, plaintext, frame_size)
    exported = context.export(HPKE_EXPORT_LABEL, EXPORT_LENGTH)
    return SealedRequest(
        body=body, enc=enc, secret=ResponseSecret(exported_secret=exported, enc=enc)
    )


__all__ = ["SealedRequest", "seal_request", "seal_with_context"]
