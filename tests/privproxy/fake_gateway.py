"""A fake PPQ gateway + enclave for proxy tests: the RECIPIENT side of EHBP, written from
docs/protocol.md §3.3/3.4 with pyhpke and cryptography (independently of `privproxy.ehbp`).

It really opens every request (HPKE base mode, `ehbp request`, frames), records what it
saw, asserts that no plaintext JSON ever arrives, and seals its answers the way the Go
server does (one AES-GCM frame per write, nonce_base XOR sequence). Each test scripts the
answer with `gateway.reply = ...` (a callable from the decrypted request to a `Reply`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, OpenError

SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
KEY_CONFIG_TYPE = "urn:ietf:params:ehbp:error:key-config"


@dataclass
class Seen:
    """One request as the enclave saw it after decryption."""

    headers: dict[str, str]
    raw_body: bytes
    body: dict[str, Any]
    enc: bytes


@dataclass
class Reply:
    """What the fake answers. `frames` are sealed one per write unless `plaintext`."""

    status: int = 200
    content_type: str = "application/json"
    frames: list[bytes] = field(default_factory=list)
    plaintext: bool = False  # send `frames` joined, without nonce and unencrypted
    headers: dict[str, str] = field(default_factory=dict)
    tamper_frame: int | None = None  # flip a ciphertext bit in this frame
    truncate_last: bool = False  # cut the last frame in half
    hang_after: int | None = None  # after this many frames, wait forever
    split_writes: bool = True  # write each frame in two TCP writes
    delay_headers: float = 0.0  # seconds to wait before answering at all
    frame_delay: float = 0.0  # seconds between frames (forces separate reads)
    raw_tail: bytes = b""  # written as is after the frames (zero-length frames, partial frames)
    tail_delay: float = 0.0  # write `raw_tail` byte by byte, this many seconds apart
    abort_after_tail: bool = False  # then drop the connection (no end of the chunked body)


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def _split_frames(body: bytes) -> list[bytes]:
    frames, pos = [], 0
    while pos < len(body):
        (length,) = struct.unpack(">I", body[pos : pos + 4])
        frames.append(body[pos + 4 : pos + 4 + length])
        pos += 4 + length
    if pos != len(body):
        raise ValueError("truncated request frame")
    return frames


class FakeGateway:
    """`app` is the aiohttp application to serve with `aiohttp_server`."""

    def __init__(self) -> None:
        self._set_key(os.urandom(32))
        self.seen: list[Seen] = []
        self.plaintext_leaks: list[bytes] = []
        self.requests = 0
        self.base_url = ""  # set by the fixture once the server listens
        self.catalog: Any = {
            "object": "list",
            "data": [{"id": "gpt-4o"}, {"id": "private/kimi-k3"}, {"id": "private/gpt-oss-120b"}],
        }
        self.catalog_status = 200
        self.reply: Callable[[Seen], Reply] = lambda seen: json_reply({"ok": True})
        self.upstream_cancelled = asyncio.Event()
        self.release_hang = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/private/v1/chat/completions", self._chat)
        self.app.router.add_get("/v1/models", self._models)

    def _set_key(self, private_key: bytes) -> None:
        self.private_key = private_key
        self._skr = SUITE.kem.deserialize_private_key(private_key)
        public = X25519PrivateKey.from_private_bytes(private_key).public_key()
        self.public_key = public.public_bytes_raw()

    def rotate_key(self) -> None:
        """The enclave restarts with a new key: old seals now get 422."""
        self._set_key(os.urandom(32))

    async def _models(self, request: web.Request) -> web.Response:
        assert request.query.get("type") == "all"
        if self.catalog_status != 200:
            return web.Response(status=self.catalog_status, text="down")
        return web.json_response(self.catalog)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        raw = await request.read()
        self._assert_not_plaintext(raw)
        enc = bytes.fromhex(request.headers["Ehbp-Encapsulated-Key"])
        try:
            ctx = SUITE.create_recipient_context(enc, self._skr, info=b"ehbp request")
            plaintext = b"".join(ctx.open(frame, aad=b"") for frame in _split_frames(raw) if frame)
        except (OpenError, ValueError):
            # Stale key: the Go middleware's 422 (docs/protocol.md §3.3), written without a nonce.
            return web.Response(
                status=422,
                content_type="application/problem+json",
                text=json.dumps(
                    {"type": KEY_CONFIG_TYPE, "title": "failed to read decrypted request body"}
                ),
            )
        if plaintext and plaintext in raw:
            self.plaintext_leaks.append(raw)
        seen = Seen(dict(request.headers), raw, json.loads(plaintext), enc)
        self.seen.append(seen)
        reply = self.reply(seen)
        if reply.delay_headers:
            try:
                await asyncio.sleep(reply.delay_headers)
            except asyncio.CancelledError:
                self.upstream_cancelled.set()
                raise
        if reply.plaintext:
            return web.Response(
                status=reply.status,
                body=b"".join(reply.frames),
                content_type=reply.content_type,
                headers=reply.headers,
            )
        exported = ctx.export(b"ehbp response", 32)
        nonce = os.urandom(32)
        prk = hmac.new(enc + nonce, exported, hashlib.sha256).digest()
        aead = AESGCM(_hkdf_expand(prk, b"key", 32))
        nonce_base = int.from_bytes(_hkdf_expand(prk, b"nonce", 12), "big")
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_type = reply.content_type
        resp.headers["Ehbp-Response-Nonce"] = nonce.hex()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for seq, chunk in enumerate(reply.frames):
                if reply.hang_after is not None and seq >= reply.hang_after:
                    await self.release_hang.wait()
                if reply.frame_delay and seq:
                    await asyncio.sleep(reply.frame_delay)
                ct = aead.encrypt((nonce_base ^ seq).to_bytes(12, "big"), chunk, None)
                if reply.tamper_frame == seq:
                    ct = bytes([ct[0] ^ 1]) + ct[1:]
                frame = struct.pack(">I", len(ct)) + ct
                if reply.truncate_last and seq == len(reply.frames) - 1:
                    frame = frame[: len(frame) // 2]
                if reply.split_writes and len(frame) > 2:
                    await resp.write(frame[:3])
                    await asyncio.sleep(0)
                    await resp.write(frame[3:])
                else:
                    await resp.write(frame)
            if reply.tail_delay:
                for byte in reply.raw_tail:
                    await resp.write(bytes([byte]))
                    await asyncio.sleep(reply.tail_delay)
            elif reply.raw_tail:
                await resp.write(reply.raw_tail)
            if reply.abort_after_tail:
                assert request.transport is not None
                request.transport.abort()
                return resp
            if reply.hang_after is not None and reply.hang_after >= len(reply.frames):
                await self.release_hang.wait()
        except (asyncio.CancelledError, ConnectionError):
            # The proxy dropped the upstream request (cancelled, or the socket went away).
            self.upstream_cancelled.set()
            raise
        await resp.write_eof()
        return resp

    def _assert_not_plaintext(self, raw: bytes) -> None:
        try:
            json.loads(raw)
        except ValueError:
            return
        self.plaintext_leaks.append(raw)


def json_reply(obj: Any, *, status: int = 200, frames: int = 1) -> Reply:
    """An encrypted JSON answer cut into `frames` pieces."""
    data = json.dumps(obj).encode()
    step = max(1, -(-len(data) // frames))
    return Reply(status=status, frames=[data[i : i + step] for i in range(0, len(data), step)])


def sse_reply(
    events: list[dict[str, Any]], *, per_frame: int = 1, split_event: bool = False
) -> Reply:
    """An encrypted event stream ending with `[DONE]`; `split_event` cuts events across frames."""
    lines = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    if split_event:
        blob = b"".join(lines)
        frames = [blob[i : i + 37] for i in range(0, len(blob), 37)]
    else:
        frames = [b"".join(lines[i : i + per_frame]) for i in range(0, len(lines), per_frame)]
    return Reply(content_type="text/event-stream", frames=frames)


def chat_completion(content: str, model: str) -> dict[str, Any]:
    """A minimal OpenAI chat.completion object."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def chunk(content: str, model: str, *, finish: str | None = None) -> dict[str, Any]:
    """A minimal OpenAI chat.completion.chunk object."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    }
