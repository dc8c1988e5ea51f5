"""Length-prefixed EHBP framing: request sealing and the sans-I/O response `FrameDecryptor`.

Every frame is `uint32be(len(ciphertext)) || ciphertext` (PROTOCOL 3.3). Response frames follow
the server's write pattern, not SSE events (PROTOCOL 3.4), so the decryptor buffers until a whole
frame has arrived and releases each authenticated plaintext frame as soon as it is complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privproxy.ehbp.errors import EhbpDecryptError, EhbpError, EhbpProtocolError
from privproxy.ehbp.protocol import (
    AEAD_NONCE_LENGTH,
    AEAD_TAG_LENGTH,
    FRAME_HEADER_LENGTH,
    MAX_REQUEST_FRAME,
    MAX_RESPONSE_FRAME,
)

if TYPE_CHECKING:
    from privproxy.ehbp.hpke import SenderContext
    from privproxy.ehbp.keys import ResponseKeys

    Buffer = bytes | bytearray | memoryview


def seal_frames(context: SenderContext, plaintext: bytes, frame_size: int) -> bytes:
    """Cut `plaintext` into frames of at most `frame_size` bytes and seal each with `context`.

    Successive frames use successive HPKE sequence numbers. An empty body still yields one frame
    (16-byte tag only), so nothing is ever sent unauthenticated.
    """
    if not 0 < frame_size <= MAX_REQUEST_FRAME:
        raise ValueError(f"frame_size must be in 1..{MAX_REQUEST_FRAME}")
    if len(plaintext) <= frame_size:
        ciphertext = context.seal(plaintext)
        return len(ciphertext).to_bytes(FRAME_HEADER_LENGTH, "big") + ciphertext
    parts: list[bytes] = []
    view = memoryview(plaintext)
    for start in range(0, len(plaintext), frame_size):
        ciphertext = context.seal(bytes(view[start : start + frame_size]))
        parts.append(len(ciphertext).to_bytes(FRAME_HEADER_LENGTH, "big"))
        parts.append(ciphertext)
    return b"".join(parts)


class FrameDecryptor:
    """Incremental response decryptor: `push()` bytes in any split, then `finish()` at EOF.

    Frame *i* (counting non-empty frames only) is opened with nonce `nonce_base XOR i`; zero-length
    frames are skipped without consuming a sequence number (PROTOCOL 3.4). Any error makes the
    decryptor unusable: later calls raise again, so a caller cannot resume after a failure.
    """

    __slots__ = ("_aead", "_buffer", "_error", "_finished", "_max_frame", "_nonce_base", "_seq")

    def __init__(self, keys: ResponseKeys, *, max_frame: int = MAX_RESPONSE_FRAME) -> None:
        self._aead = AESGCM(keys.key)
        self._nonce_base = int.from_bytes(keys.nonce_base, "big")
        self._seq = 0
        self._buffer = bytearray()
        self._max_frame = max_frame
        self._error: EhbpError | None = None
        self._finished = False

    def __repr__(self) -> str:
        return f"FrameDecryptor(frames={self._seq}, buffered={len(self._buffer)})"

    @property
    def frames(self) -> int:
        """Number of non-empty frames authenticated so far."""
        return self._seq

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def push(self, data: Buffer) -> list[bytes]:
        """Consume `data`; return the plaintext of every frame it completed, in order.

        Raises `EhbpProtocolError` for a frame longer than the cap (as soon as its 4-byte header is
        seen) and `EhbpDecryptError` when a frame fails authentication; in both cases no plaintext
        of the failing push is returned.
        """
        self._check_usable()
        buffer = self._buffer
        # Fast path: nothing buffered, so parse `data` in place and keep only its tail.
        source: Buffer
        if buffer:
            buffer += data
            source = buffer
        else:
            source = data
        out: list[bytes] = []
        try:
            with memoryview(source) as view:
                consumed = self._parse(view, out)
                if source is not buffer:
                    buffer += view[consumed:]
        except EhbpError:
            # The view is released here, so the buffer may be resized; drop everything held.
            buffer.clear()
            raise
        if source is buffer:
            # bytearray prefix deletion is O(1) amortised in CPython (it moves the start offset).
            del buffer[:consumed]
        return out

    def finish(self) -> None:
        """Declare end of stream; raise `EhbpProtocolError` if a partial frame is buffered."""
        self._check_usable()
        self._finished = True
        if self._buffer:
            self._buffer.clear()
            self._fail(EhbpProtocolError("truncated EHBP response frame at end of stream"))

    def _parse(self, view: memoryview, out: list[bytes]) -> int:
        pos = 0
        size = len(view)
        aead = self._aead
        while size - pos >= FRAME_HEADER_LENGTH:
            length = int.from_bytes(view[pos : pos + FRAME_HEADER_LENGTH], "big")
            if length > self._max_frame:
                self._fail(EhbpProtocolError("EHBP response frame exceeds the size limit"))
            start = pos + FRAME_HEADER_LENGTH
            if length == 0:
                pos = start
                continue
            end = start + length
            if end > size:
                break
            if length < AEAD_TAG_LENGTH:
                self._fail(EhbpDecryptError())
            nonce = (self._nonce_base ^ self._seq).to_bytes(AEAD_NONCE_LENGTH, "big")
            try:
                out.append(aead.decrypt(nonce, view[start:end], None))
            except InvalidTag:
                self._fail(EhbpDecryptError())
            self._seq += 1
            pos = end
        return pos

    def _fail(self, error: EhbpError) -> NoReturn:
        # Remember the failure so the decryptor stays unusable; the caller clears the buffer.
        self._error = error
        raise error

    def _check_usable(self) -> None:
        if isinstance(self._error, EhbpDecryptError):
            raise EhbpDecryptError()
        if self._error is not None:
            raise EhbpProtocolError(self._error.message)
        if self._finished:
            raise EhbpProtocolError("EHBP decryptor already finished")


__all__ = ["FrameDecryptor", "seal_frames"]
