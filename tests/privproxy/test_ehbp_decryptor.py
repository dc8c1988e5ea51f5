"""FrameDecryptor rejection paths and streaming behaviour, on synthetic responses.

Responses are sealed by `test_ehbp_support.seal_response` (an independent server-side encoder) with
keys derived from the real derive.json inputs.
"""

from __future__ import annotations

import os

import pytest

from privproxy.ehbp import (
    MAX_RESPONSE_FRAME,
    EhbpDecryptError,
    EhbpError,
    EhbpProtocolError,
    FrameDecryptor,
    ResponseKeys,
    ResponseSecret,
    derive_response_keys,
)
from privproxy.errors import ProxyError
from tests.privproxy.test_ehbp_support import frame, load_vector, seal_response

CHUNKS = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]


def _secret_and_nonce() -> tuple[ResponseSecret, str]:
    v = load_vector("derive.json")
    secret = ResponseSecret(bytes.fromhex(v["exportedSecret"]), bytes.fromhex(v["requestEnc"]))
    return secret, v["responseNonce"]


def _keys() -> ResponseKeys:
    secret, nonce = _secret_and_nonce()
    return derive_response_keys(secret.exported_secret, secret.enc, bytes.fromhex(nonce))


def _decryptor() -> FrameDecryptor:
    secret, nonce = _secret_and_nonce()
    return secret.decryptor(nonce)


def test_error_classes_map_to_502() -> None:
    for cls in (EhbpError, EhbpProtocolError, EhbpDecryptError):
        assert issubclass(cls, ProxyError)
        assert cls.http_status == 502
        assert cls.error_type == "ehbp_protocol_error"
        assert cls.code == "ehbp_protocol_error"
    assert issubclass(EhbpProtocolError, EhbpError)
    assert issubclass(EhbpDecryptError, EhbpError)
    assert EhbpDecryptError().to_json()["error"]["type"] == "ehbp_protocol_error"


def test_whole_body_one_push() -> None:
    decryptor = _decryptor()
    assert decryptor.push(seal_response(_keys(), CHUNKS)) == CHUNKS
    assert decryptor.frames == 3
    decryptor.finish()


def test_byte_at_a_time() -> None:
    decryptor = _decryptor()
    out: list[bytes] = []
    for b in seal_response(_keys(), CHUNKS):
        out.extend(decryptor.push(bytes([b])))
    decryptor.finish()
    assert out == CHUNKS


def test_accepts_bytearray_and_memoryview() -> None:
    body = seal_response(_keys(), CHUNKS)
    decryptor = _decryptor()
    out = decryptor.push(bytearray(body[:30]))
    out += decryptor.push(memoryview(body)[30:])
    assert out == CHUNKS


def test_empty_push_and_empty_body() -> None:
    decryptor = _decryptor()
    assert decryptor.push(b"") == []
    decryptor.finish()


def test_zero_length_frames_skipped_without_consuming_sequence() -> None:
    sealed = seal_response(_keys(), CHUNKS)
    first_len = 4 + len(CHUNKS[0]) + 16
    body = b"\x00\x00\x00\x00" + sealed[:first_len] + b"\x00" * 8 + sealed[first_len:]
    decryptor = _decryptor()
    out: list[bytes] = []
    for i in range(0, len(body), 3):
        out.extend(decryptor.push(body[i : i + 3]))
    decryptor.finish()
    assert out == CHUNKS
    assert decryptor.frames == 3


@pytest.mark.parametrize("position", [4, 10, 4 + len(CHUNKS[0]) + 16 - 1])
def test_tampered_byte_rejected_without_plaintext(position: int) -> None:
    body = bytearray(seal_response(_keys(), CHUNKS))
    body[position] ^= 0x01
    decryptor = _decryptor()
    with pytest.raises(EhbpDecryptError) as info:
        decryptor.push(bytes(body))
    assert info.value.message == EhbpDecryptError.MESSAGE
    # Unusable afterwards: neither the rest nor a finish() can succeed.
    with pytest.raises(EhbpDecryptError):
        decryptor.push(b"")
    with pytest.raises(EhbpDecryptError):
        decryptor.finish()


def test_tamper_in_later_frame_keeps_earlier_frames_only() -> None:
    keys = _keys()
    body = bytearray(seal_response(keys, CHUNKS))
    second_frame_start = 4 + len(CHUNKS[0]) + 16
    body[second_frame_start + 6] ^= 0x80
    decryptor = _decryptor()
    assert decryptor.push(bytes(body[:second_frame_start])) == CHUNKS[:1]
    with pytest.raises(EhbpDecryptError) as info:
        decryptor.push(bytes(body[second_frame_start:]))
    assert CHUNKS[1] not in str(info.value).encode()


def test_reordered_frames_rejected() -> None:
    keys = _keys()
    frames = [seal_response(keys, [c]) for c in CHUNKS]  # every one sealed with sequence 0
    decryptor = _decryptor()
    assert decryptor.push(frames[0]) == CHUNKS[:1]
    with pytest.raises(EhbpDecryptError):
        decryptor.push(frames[1])


def test_wrong_nonce_header_fails_authentication() -> None:
    secret, _ = _secret_and_nonce()
    decryptor = secret.decryptor("00" * 32)
    with pytest.raises(EhbpDecryptError):
        decryptor.push(seal_response(_keys(), CHUNKS))


def test_frame_shorter_than_tag_rejected() -> None:
    decryptor = _decryptor()
    with pytest.raises(EhbpDecryptError):
        decryptor.push(frame(b"\x00" * 15))


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 20])
def test_truncated_frame_at_eof(cut: int) -> None:
    body = seal_response(_keys(), CHUNKS[:1])
    decryptor = _decryptor()
    assert decryptor.push(body[:cut]) == []
    assert decryptor.buffered == cut
    with pytest.raises(EhbpProtocolError, match="truncated"):
        decryptor.finish()
    with pytest.raises(EhbpProtocolError):
        decryptor.push(body[cut:])


def test_truncated_after_complete_frame() -> None:
    body = seal_response(_keys(), CHUNKS)
    decryptor = _decryptor()
    assert decryptor.push(body[:-1]) == CHUNKS[:2]
    with pytest.raises(EhbpProtocolError):
        decryptor.finish()


def test_push_after_finish_rejected() -> None:
    decryptor = _decryptor()
    decryptor.finish()
    with pytest.raises(EhbpProtocolError):
        decryptor.push(seal_response(_keys(), CHUNKS))


def test_oversize_length_rejected_on_header_alone() -> None:
    decryptor = _decryptor()
    header = (MAX_RESPONSE_FRAME + 1).to_bytes(4, "big")
    assert decryptor.push(header[:3]) == []
    with pytest.raises(EhbpProtocolError, match="size limit"):
        decryptor.push(header[3:])
    with pytest.raises(EhbpProtocolError):
        decryptor.push(b"")


def test_exact_cap_length_is_waited_for() -> None:
    decryptor = _decryptor()
    assert decryptor.push(MAX_RESPONSE_FRAME.to_bytes(4, "big") + b"x") == []
    assert decryptor.buffered == 5


def test_oversize_after_good_frame_releases_nothing_from_that_push() -> None:
    body = seal_response(_keys(), CHUNKS[:1]) + b"\xff\xff\xff\xff"
    decryptor = _decryptor()
    with pytest.raises(EhbpProtocolError):
        decryptor.push(body)


def test_custom_frame_cap() -> None:
    decryptor = FrameDecryptor(_keys(), max_frame=16)
    with pytest.raises(EhbpProtocolError):
        decryptor.push(seal_response(_keys(), [b"more than nothing"]))


@pytest.mark.parametrize(
    "header",
    [None, "", "00" * 31, "00" * 33, "zz" * 32, " " + "00" * 31 + "0", "00" * 16 + " " * 32],
)
def test_bad_or_missing_nonce_header(header: str | None) -> None:
    secret, _ = _secret_and_nonce()
    with pytest.raises(EhbpProtocolError, match="Ehbp-Response-Nonce"):
        secret.decryptor(header)


def test_large_response_many_frames() -> None:
    """A 5 MB body in server-sized frames, fed in uneven network-sized pieces."""
    keys = _keys()
    payload = os.urandom(5 * 1024 * 1024)
    chunks = [payload[i : i + 32 * 1024] for i in range(0, len(payload), 32 * 1024)]
    body = seal_response(keys, chunks)
    decryptor = FrameDecryptor(keys)
    out: list[bytes] = []
    step = 65_521
    for i in range(0, len(body), step):
        out.extend(decryptor.push(body[i : i + step]))
    decryptor.finish()
    assert b"".join(out) == payload
    assert len(out) == len(chunks)


def test_single_large_frame_in_small_pieces() -> None:
    keys = _keys()
    payload = os.urandom(2 * 1024 * 1024)
    body = seal_response(keys, [payload])
    decryptor = FrameDecryptor(keys)
    out: list[bytes] = []
    for i in range(0, len(body), 4096):
        out.extend(decryptor.push(body[i : i + 4096]))
    decryptor.finish()
    assert out == [payload]
