"""Micro-benchmark of the EHBP hot path (no assertions; run by hand, not collected by pytest).

    .venv/bin/python -m tests.benchmarks.bench_ehbp [--quick]

Prints microseconds per operation for: sealing a small request (ours and pyhpke, same work),
the response key derivation, and decrypting a 500-event stream and a 5 MB body in network-sized
pieces. Compare only numbers from one run on one machine.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

from privproxy.ehbp import FrameDecryptor, ResponseKeys, derive_response_keys, seal_request


def _per_call_us(fn: Callable[[], object], number: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def _sealed_response(keys: ResponseKeys, chunks: list[bytes]) -> bytes:
    aead = AESGCM(keys.key)
    base = int.from_bytes(keys.nonce_base, "big")
    parts = []
    for i, chunk in enumerate(chunks):
        ct = aead.encrypt((base ^ i).to_bytes(12, "big"), chunk, None)
        parts.append(len(ct).to_bytes(4, "big") + ct)
    return b"".join(parts)


def _decrypt_all(keys: ResponseKeys, body: bytes, piece: int) -> int:
    decryptor = FrameDecryptor(keys)
    total = 0
    for i in range(0, len(body), piece):
        for plaintext in decryptor.push(body[i : i + piece]):
            total += len(plaintext)
    decryptor.finish()
    return total


def main() -> None:
    """Run every measurement and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    n = 300 if parser.parse_args().quick else 3000
    server = X25519PrivateKey.generate()
    pk = server.public_key().public_bytes_raw()
    small = os.urandom(300)
    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)

    def pyhpke_seal() -> None:
        _enc, ctx = suite.create_sender_context(
            suite.kem.deserialize_public_key(pk), b"ehbp request"
        )
        ctx.seal(small)
        ctx.export(b"ehbp response", 32)

    def x25519_floor() -> None:
        X25519PrivateKey.generate().public_key().public_bytes_raw()
        server.exchange(server.public_key())

    sealed = seal_request(pk, small)
    secret = sealed.secret
    keys = derive_response_keys(secret.exported_secret, secret.enc, os.urandom(32))
    events = [b'data: {"choices":[{"delta":{"content":"0123456789abcdef"}}]}\n\n'] * 500
    stream_body = _sealed_response(keys, events)
    big = os.urandom(5 * 1024 * 1024)
    big_body = _sealed_response(keys, [big[i : i + 65536] for i in range(0, len(big), 65536)])

    rows = [
        ("seal_request 300 B (ours)", _per_call_us(lambda: seal_request(pk, small), n)),
        ("seal 300 B + export (pyhpke 0.6.5)", _per_call_us(pyhpke_seal, n)),
        ("X25519 keygen + agreement floor", _per_call_us(x25519_floor, n)),
        ("seal_request 5 MB (ours)", _per_call_us(lambda: seal_request(pk, big), 5)),
        ("secret.decryptor(nonce header)", _per_call_us(lambda: secret.decryptor("ab" * 32), n)),
        (
            "decrypt 500-event stream, 1 push/frame",
            _per_call_us(lambda: _decrypt_all(keys, stream_body, len(stream_body) // 500), 20),
        ),
        (
            "decrypt 500-event stream, 7-byte pieces",
            _per_call_us(lambda: _decrypt_all(keys, stream_body, 7), 3),
        ),
        (
            "decrypt 5 MB in 64 KiB pieces",
            _per_call_us(lambda: _decrypt_all(keys, big_body, 65536), 5),
        ),
        (
            "decrypt 5 MB in 1400-byte pieces",
            _per_call_us(lambda: _decrypt_all(keys, big_body, 1400), 3),
        ),
    ]
    for label, us in rows:
        print(f"{label:45s} {us:12.1f} us")


if __name__ == "__main__":
    main()
