"""Fault knobs of the simulated gateway, and what it observed (for assertions).

`Faults` is deliberately mutable: a test (or `privproxy demo --fault ...`) flips a knob,
sends traffic, and flips it back. Every knob is off by default.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What to break. Applied to chat requests unless stated otherwise."""

    latency: float = 0.0
    """Seconds to wait before answering (headers), for timeout tests."""
    stream_delay: float = 0.0
    """Seconds between response frames."""
    plaintext_status: int | None = None
    """Answer as the *gateway*, in plaintext without a nonce (401 key, 402 balance, 429, 500)."""
    truncate: bool = False
    """Cut the last response frame in half, then end the body."""
    tamper: bool = False
    """Flip one ciphertext bit in a response frame (the second one when there are two)."""
    strip_nonce: bool = False
    """Answer 200 with the plaintext body and no `Ehbp-Response-Nonce` (body substitution)."""
    rotate_every: int | None = None
    """Rotate the enclave key after every N chat requests that were opened successfully."""
    attestation_status: int | None = None
    """Answer `GET /private/attestation` with this plaintext status instead of the bundle."""


@dataclass(frozen=True, slots=True)
class ObservedRequest:
    """What the gateway saw of one chat request (no secrets: no key, no body)."""

    private_model: str | None
    enclave_url: str | None
    query_source: str | None
    encapsulated: bool
    body_bytes: int
    status: int


@dataclass
class GatewayStats:
    """Counters and a bounded log of chat requests."""

    attestation_fetches: int = 0
    v3_document_fetches: int = 0  # of which for the enclave's v3 endpoint
    chat_requests: int = 0
    opened: int = 0
    key_mismatches: int = 0
    plaintext_refused: int = 0
    rotations: int = 0
    requests: deque[ObservedRequest] = field(default_factory=lambda: deque(maxlen=1000))


__all__ = ["Faults", "GatewayStats", "ObservedRequest"]
