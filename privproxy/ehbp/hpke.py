"""Short RFC 9180 base-mode sender: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM.

Why not pyhpke on the hot path: sealing a 300-byte body through pyhpke 0.6.5 costs ~110 us, of
which ~65 us is the X25519 key generation + agreement itself; the rest is per-call object churn.
This module spends only the unavoidable work (one key generation, one agreement, seven
HMAC-SHA256 calls, one AES-GCM key setup) and precomputes everything that depends only on the
suite and `info`. pyhpke remains the independent cross-check in the tests (its recipient opens
what we seal), the RFC 9180 known-answer vector for this suite pins every step, and the exchange
vector (docs/protocol.md §3.8) pins the EHBP bytes.

Only what EHBP needs is implemented: mode_base, sender side, seal and export (RFC 9180 5.1, 5.2,
5.3, 4.1 DHKEM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privproxy.ehbp.hmac256 import hmac_sha256
from privproxy.ehbp.protocol import (
    AEAD_AES_256_GCM,
    AEAD_NONCE_LENGTH,
    AES_KEY_LENGTH,
    KDF_HKDF_SHA256,
    KEM_X25519_HKDF_SHA256,
    X25519_KEY_LENGTH,
)

if TYPE_CHECKING:
    Buffer = bytes | bytearray | memoryview

_NH: Final = 32
_VERSION: Final = b"HPKE-v1"
# RFC 9180 4.1: suite_id of the KEM, and 5.1: suite_id of the full HPKE suite.
_KEM_SUITE_ID: Final = b"KEM" + KEM_X25519_HKDF_SHA256.to_bytes(2, "big")
_HPKE_SUITE_ID: Final = (
    b"HPKE"
    + KEM_X25519_HKDF_SHA256.to_bytes(2, "big")
    + KDF_HKDF_SHA256.to_bytes(2, "big")
    + AEAD_AES_256_GCM.to_bytes(2, "big")
)
_MODE_BASE: Final = b"\x00"


def _extract(salt: bytes, ikm: bytes) -> bytes:
    # RFC 5869 Extract; an empty salt equals Nh zero bytes because HMAC zero-pads its key.
    return hmac_sha256(salt, ikm)


def _expand_one_block(prk: bytes, info: bytes, length: int) -> bytes:
    # RFC 5869 Expand for L <= Nh: T(1) = HMAC(PRK, info || 0x01). Every length used here is <= 32.
    if not 0 < length <= _NH:
        raise ValueError("expand length out of range for a single HKDF block")
    return hmac_sha256(prk, info + b"\x01")[:length]


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, _VERSION + suite_id + label + ikm)


def _labeled_expand_info(suite_id: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return length.to_bytes(2, "big") + _VERSION + suite_id + label + info


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand_one_block(prk, _labeled_expand_info(suite_id, label, info, length), length)


def key_schedule_context(info: bytes) -> bytes:
    # RFC 9180 5.1: mode || LabeledExtract("", "psk_id_hash", "")
    #                  || LabeledExtract("", "info_hash", info)
    psk_id_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE_ID, b"", b"info_hash", info)
    return _MODE_BASE + psk_id_hash + info_hash


class SenderSetup:
    """Precomputed, info-dependent constants of SetupBaseS for one `info` string."""

    __slots__ = ("_exp_info", "_key_info", "_nonce_info", "_secret_prefix")

    def __init__(self, info: bytes) -> None:
        ksc = key_schedule_context(info)
        self._secret_prefix = _VERSION + _HPKE_SUITE_ID + b"secret"
        self._key_info = _labeled_expand_info(_HPKE_SUITE_ID, b"key", ksc, AES_KEY_LENGTH) + b"\x01"
        self._nonce_info = (
            _labeled_expand_info(_HPKE_SUITE_ID, b"base_nonce", ksc, AEAD_NONCE_LENGTH) + b"\x01"
        )
        self._exp_info = _labeled_expand_info(_HPKE_SUITE_ID, b"exp", ksc, _NH) + b"\x01"

    def setup(
        self, public_key: X25519PublicKey, *, public_key_bytes: bytes | None = None
    ) -> tuple[bytes, SenderContext]:
        """SetupBaseS(pkR, info) with a fresh ephemeral key: returns `(enc, context)`.

        `public_key_bytes` (the raw pkR, if the caller has it) saves re-serialising the key.
        """
        enc, shared_secret = encap(X25519PrivateKey.generate(), public_key, public_key_bytes)
        return enc, self.schedule(shared_secret)

    def schedule(self, shared_secret: bytes) -> SenderContext:
        """RFC 9180 5.1 KeySchedule in base mode (psk = ""), from the KEM's shared secret."""
        # secret = LabeledExtract(shared_secret, "secret", psk)
        secret = _extract(shared_secret, self._secret_prefix)
        key = hmac_sha256(secret, self._key_info)
        base_nonce = hmac_sha256(secret, self._nonce_info)[:AEAD_NONCE_LENGTH]
        exporter_secret = hmac_sha256(secret, self._exp_info)
        return SenderContext(key, base_nonce, exporter_secret)


def encap(
    ephemeral: X25519PrivateKey,
    public_key: X25519PublicKey,
    public_key_bytes: bytes | None = None,
) -> tuple[bytes, bytes]:
    """DHKEM(X25519, HKDF-SHA256) Encap (RFC 9180 4.1) with the given ephemeral key.

    Returns `(enc, shared_secret)`. Production sealing only reaches this through
    `SenderSetup.setup`, which generates a fresh key each time; passing a fixed key here is what
    known-answer tests do, and nothing else should.
    """
    enc = ephemeral.public_key().public_bytes_raw()
    # cryptography refuses an all-zero shared secret (low-order pkR) with ValueError,
    # which is the check RFC 9180 7.1.4 requires.
    dh = ephemeral.exchange(public_key)
    if public_key_bytes is None:
        public_key_bytes = public_key.public_bytes_raw()
    kem_context = enc + public_key_bytes
    # ExtractAndExpand(dh, kem_context)
    eae_prk = _labeled_extract(_KEM_SUITE_ID, b"", b"eae_prk", dh)
    shared_secret = _labeled_expand(_KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, _NH)
    return enc, shared_secret


class SenderContext:
    """RFC 9180 5.2/5.3 sender context: `seal()` with successive sequence numbers, `export()`."""

    __slots__ = ("_aead", "_base_nonce", "_exporter_secret", "_seq", "key")

    def __init__(self, key: bytes, base_nonce: bytes, exporter_secret: bytes) -> None:
        self.key = key
        self._aead = AESGCM(key)
        self._base_nonce = int.from_bytes(base_nonce, "big")
        self._exporter_secret = exporter_secret
        self._seq = 0

    def __repr__(self) -> str:
        return "SenderContext(<redacted>)"

    @property
    def base_nonce(self) -> bytes:
        """The context's base nonce (exposed so tests can pin it against the vector)."""
        return self._base_nonce.to_bytes(AEAD_NONCE_LENGTH, "big")

    def seal(self, plaintext: bytes | bytearray, aad: bytes = b"") -> bytes:
        """Seal with nonce = base_nonce XOR seq, then increment seq (RFC 5.2)."""
        nonce = (self._base_nonce ^ self._seq).to_bytes(AEAD_NONCE_LENGTH, "big")
        self._seq += 1
        return self._aead.encrypt(nonce, plaintext, aad or None)

    def seal_into(self, plaintext: Buffer, out: memoryview) -> None:
        """Like `seal()`, writing `len(plaintext) + 16` bytes into `out` (no intermediate copy)."""
        nonce = (self._base_nonce ^ self._seq).to_bytes(AEAD_NONCE_LENGTH, "big")
        self._seq += 1
        self._aead.encrypt_into(nonce, plaintext, None, out)

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """RFC 5.3: LabeledExpand(exporter_secret, "sec", exporter_context, L)."""
        return _labeled_expand(
            _HPKE_SUITE_ID, self._exporter_secret, b"sec", exporter_context, length
        )


def load_public_key(public_key: bytes) -> X25519PublicKey:
    """Parse a raw 32-byte X25519 public key (RFC 7748 encoding)."""
    if len(public_key) != X25519_KEY_LENGTH:
        raise ValueError("X25519 public key must be 32 bytes")
    return X25519PublicKey.from_public_bytes(public_key)


__all__ = ["SenderContext", "SenderSetup", "encap", "key_schedule_context", "load_public_key"]
