"""EHBP client (Encrypted HTTP Body Protocol), sans-I/O: the only crypto in privproxy.

Seal a request body for the enclave's attested X25519 key, send `body` with the
`Ehbp-Encapsulated-Key: enc_hex` header, then open the response with its nonce header::

    sealed = seal_request(enclave_public_key, json_bytes)
    # POST sealed.body with {ENCAPSULATED_KEY_HEADER: sealed.enc_hex}
    decryptor = sealed.secret.decryptor(response.headers.get(RESPONSE_NONCE_HEADER))
    for chunk in upstream_chunks:
        for plaintext in decryptor.push(chunk):
            relay(plaintext)
    decryptor.finish()

Wire format: docs/protocol.md §3. No network code lives here.
"""

from __future__ import annotations

from privproxy.ehbp.errors import EhbpDecryptError, EhbpError, EhbpProtocolError
from privproxy.ehbp.framing import FrameDecryptor
from privproxy.ehbp.keyconfig import KeyConfig, parse_key_config
from privproxy.ehbp.keys import ResponseKeys, derive_response_keys
from privproxy.ehbp.protocol import (
    ENCAPSULATED_KEY_HEADER,
    KEY_CONFIG_PROBLEM_TYPE,
    MAX_REQUEST_FRAME,
    MAX_RESPONSE_FRAME,
    RESPONSE_NONCE_HEADER,
)
from privproxy.ehbp.request import SealedRequest, seal_request
from privproxy.ehbp.secret import ResponseSecret

__all__ = [
    "ENCAPSULATED_KEY_HEADER",
    "KEY_CONFIG_PROBLEM_TYPE",
    "MAX_REQUEST_FRAME",
    "MAX_RESPONSE_FRAME",
    "RESPONSE_NONCE_HEADER",
    "EhbpDecryptError",
    "EhbpError",
    "EhbpProtocolError",
    "FrameDecryptor",
    "KeyConfig",
    "ResponseKeys",
    "ResponseSecret",
    "SealedRequest",
    "derive_response_keys",
    "parse_key_config",
    "seal_request",
]
