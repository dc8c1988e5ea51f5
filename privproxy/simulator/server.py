"""The simulated PPQ gateway with a Tinfoil enclave behind it, as one aiohttp application.

Routes (docs/protocol.md §1):

* `GET /private/attestation`: the current enclave's attestation bundle.
* `GET /v1/models[?type=all]`: a PPQ-style catalog listing the `private/*` models.
* `POST /private/v1/chat/completions`: the gateway checks its headers (Bearer key,
  `X-Private-Model`, `x-query-source: api`, `X-Tinfoil-Enclave-Url`), the enclave opens the
  EHBP body (422 key-config when it was sealed to another key), checks the body's model
  against the header, and answers encrypted, frame by frame; frame boundaries deliberately
  do not follow SSE events (docs/protocol.md §3.4). Plaintext bodies are refused and counted.

`SimulatedGateway.rotate()` boots a new enclave (new keys, same release): requests still
sealed to the old key get the 422 the real middleware sends. Fault knobs live in
`gateway.faults` (`faults.py`). `running_gateway()` serves it on a loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable
from typing import Final

from aiohttp import web

from privproxy.ehbp.protocol import (
    ENCAPSULATED_KEY_HEADER,
    KEY_CONFIG_PROBLEM_TYPE,
    RESPONSE_NONCE_HEADER,
)
from privproxy.simulator import chat
from privproxy.simulator.ehbp_server import RequestRejectedError, ResponseSealer, open_request
from privproxy.simulator.faults import Faults, GatewayStats, ObservedRequest
from privproxy.simulator.v3 import V3Material, shared_v3
from privproxy.simulator.world import EnclaveInstance, SimulatedWorld, shared_world

MAX_BODY: Final = 16 * 1024 * 1024
#: Response write sizes, cycled: frames split SSE events and also join several of them.
FRAME_PATTERN: Final = (17, 5, 160, 33, 1, 300, 64)
_PRIVATE_MODEL: Final = re.compile(r"private/[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_PLAINTEXT_ERRORS: Final = {
    401: ("Invalid API key", "authentication_error"),
    402: ("Insufficient balance", "insufficient_quota"),
    429: ("Rate limit exceeded", "rate_limit_error"),
    500: ("Internal server error", "server_error"),
}

_log = logging.getLogger("privproxy.simulator")


def default_models() -> tuple[str, ...]:
    """Enclave model ids served by default: the proxy's built-in private catalog."""
    from privproxy.gateway.catalog import MODELS

    return tuple(m.enclave_id for m in MODELS)


def _plaintext(status: int, message: str, error_type: str, **headers: str) -> web.Response:
    body = {"error": {"message": message, "type": error_type}}
    return web.json_response(body, status=status, headers=headers or None)


def rechunk(events: Iterable[bytes], pattern: Iterable[int] = FRAME_PATTERN) -> Iterable[bytes]:
    """Re-cut a byte stream into writes of the cycled `pattern` sizes (last one shorter)."""
    sizes = itertools.cycle(pattern)
    buffer = b""
    want = next(sizes)
    for event in events:
        buffer += event
        while len(buffer) >= want:
            yield buffer[:want]
            buffer, want = buffer[want:], next(sizes)
    if buffer:
        yield buffer


class SimulatedGateway:
    """Gateway + enclave state: the current enclave instance, faults, statistics."""

    def __init__(
        self,
        world: SimulatedWorld | None = None,
        *,
        script: chat.Script | None = None,
        models: Iterable[str] | None = None,
    ) -> None:
        self.world = world or shared_world()
        self.enclave: EnclaveInstance = self.world.boot_enclave()
        self.faults = Faults()
        self.stats = GatewayStats()
        self.script = script
        self.models = tuple(models) if models is not None else default_models()
        # The enclave's v3 endpoint. `serve_v3 = False` answers 404 (an enclave with v2 only);
        # `v3_material` replaces the signed reference values (e.g. with stale witnesses).
        self.serve_v3 = True
        self.v3_material: V3Material | None = None

    # -- control --

    def rotate(self, *, domain: str | None = None) -> EnclaveInstance:
        """Boot a new enclave (new HPKE and TLS keys, optionally a new domain)."""
        self.enclave = self.world.boot_enclave(domain=domain)
        self.stats.rotations += 1
        _log.info("simulated enclave rotated its keys (domain %s)", self.enclave.domain)
        return self.enclave

    def serve(self, enclave: EnclaveInstance) -> None:
        """Serve a specific enclave instance (e.g. one attested by the wrong chain)."""
        self.enclave = enclave

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/private/attestation", self._attestation)
        app.router.add_get("/.well-known/tinfoil-attestation", self._attestation_v3)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/private/v1/chat/completions", self._chat)
        return app

    # -- handlers --

    async def _attestation(self, request: web.Request) -> web.Response:
        self.stats.attestation_fetches += 1
        status = self.faults.attestation_status
        if status is not None:
            return _plaintext(status, "attestation unavailable", "server_error")
        return web.Response(body=self.enclave.bundle_json, content_type="application/json")

    async def _attestation_v3(self, request: web.Request) -> web.Response:
        # What the enclave itself answers (the simulator plays gateway and enclave).
        self.stats.attestation_fetches += 1
        self.stats.v3_document_fetches += 1
        if not self.serve_v3:
            return _plaintext(404, "not found", "not_found")
        nonce = request.query.get("nonce", "")
        if len(nonce) != 64 or any(c not in "0123456789abcdef" for c in nonce):
            return _plaintext(400, "nonce must be 64 lowercase hex characters", "invalid_request")
        material = self.v3_material or shared_v3(self.world)
        body = material.document(self.enclave, bytes.fromhex(nonce))
        return web.Response(body=body, content_type="application/json")

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {"id": f"private/{m}", "object": "model", "created": 0, "owned_by": "ppq"}
            for m in self.models
        ]
        data.append({"id": "simulated-plain-model", "object": "model", "created": 0})
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.chat_requests += 1
        body = await request.read()
        response = await self._answer(request, body)
        self.stats.requests.append(
            ObservedRequest(
                private_model=request.headers.get("X-Private-Model"),
                enclave_url=request.headers.get("X-Tinfoil-Enclave-Url"),
                query_source=request.headers.get("x-query-source"),
                encapsulated=ENCAPSULATED_KEY_HEADER in request.headers,
                body_bytes=len(body),
                status=response.status,
            )
        )
        return response

    def _gateway_refusal(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _plaintext(401, "Missing or invalid API key", "authentication_error")
        status = self.faults.plaintext_status
        if status is not None:
            message, kind = _PLAINTEXT_ERRORS.get(status, ("Simulated gateway error", "error"))
            extra = {"Retry-After": "1"} if status == 429 else {}
            return _plaintext(status, message, kind, **extra)
        if not _PRIVATE_MODEL.fullmatch(request.headers.get("X-Private-Model", "")):
            return _plaintext(400, "X-Private-Model must be private/<model>", "invalid_request")
        if request.headers.get("x-query-source") != "api":
            return _plaintext(400, "x-query-source must be api", "invalid_request")
        if request.headers.get("X-Tinfoil-Enclave-Url") != f"https://{self.enclave.domain}":
            return _plaintext(502, "unknown or unreachable enclave", "upstream_error")
        if ENCAPSULATED_KEY_HEADER not in request.headers:
            self.stats.plaintext_refused += 1
            return _plaintext(400, "plaintext request bodies are refused", "invalid_request")
        return None

    async def _answer(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        refusal = self._gateway_refusal(request)
        if refusal is not None:
            return refusal
        enclave = self.enclave
        enc_hex = request.headers[ENCAPSULATED_KEY_HEADER]
        try:
            plaintext, exported = open_request(enclave.hpke_private_key, enc_hex, body)
        except RequestRejectedError as exc:
            if exc.status == 422:
                self.stats.key_mismatches += 1
                problem = {"type": KEY_CONFIG_PROBLEM_TYPE, "title": exc.title}
                return web.Response(
                    status=422, text=json.dumps(problem), content_type="application/problem+json"
                )
            return web.Response(status=exc.status, text=exc.title)
        self.stats.opened += 1
        if self.faults.rotate_every and self.stats.opened % self.faults.rotate_every == 0:
            self.rotate()
        sealer = ResponseSealer(exported, bytes.fromhex(enc_hex))
        status, content_type, writes = self._respond(request, plaintext)
        if self.faults.strip_nonce:
            return web.Response(status=status, body=b"".join(writes), content_type=content_type)
        return await self._send_sealed(request, sealer, status, content_type, writes)

    def _respond(self, request: web.Request, plaintext: bytes) -> tuple[int, str, list[bytes]]:
        """Status, content type and the plaintext writes of the enclave's answer."""
        try:
            payload = json.loads(plaintext)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _error(400, "request body is not a JSON object", "invalid_request_error")
        model = payload.get("model")
        if request.headers.get("X-Private-Model") != f"private/{model}":
            return _error(400, "X-Private-Model does not match the body", "invalid_request_error")
        if model not in self.models:
            return _error(404, "The model does not exist.", "invalid_request_error")
        answer = chat.decide(payload, self.script)
        if payload.get("stream"):
            events = chat.stream_events(payload, answer)
            return 200, "text/event-stream", list(rechunk(events))
        data = json.dumps(chat.completion(payload, answer)).encode()
        return 200, "application/json", list(rechunk([data], (len(data) // 2 + 1,)))

    async def _send_sealed(
        self,
        request: web.Request,
        sealer: ResponseSealer,
        status: int,
        content_type: str,
        writes: list[bytes],
    ) -> web.StreamResponse:
        frames = [sealer.seal(w) for w in writes]
        if self.faults.tamper and frames:
            target = bytearray(frames[1 if len(frames) > 1 else 0])
            target[-1] ^= 0x01  # inside the AES-GCM tag: authentication must fail
            frames[1 if len(frames) > 1 else 0] = bytes(target)
        if self.faults.truncate and frames:
            frames[-1] = frames[-1][: len(frames[-1]) // 2]
        response = web.StreamResponse(
            status=status,
            headers={"Content-Type": content_type, RESPONSE_NONCE_HEADER: sealer.nonce_hex},
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        for frame in frames:
            if self.faults.stream_delay:
                await asyncio.sleep(self.faults.stream_delay)
            await response.write(frame)
        await response.write_eof()
        return response


def _error(status: int, message: str, kind: str) -> tuple[int, str, list[bytes]]:
    body = json.dumps({"error": {"message": message, "type": kind}}).encode()
    return status, "application/json", [body]


@contextlib.asynccontextmanager
async def running_gateway(
    gateway: SimulatedGateway, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve `gateway` on `host:port` (0 = a free port); yields its base URL."""
    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound = runner.addresses[0][1]
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()


__all__ = ["FRAME_PATTERN", "SimulatedGateway", "default_models", "rechunk", "running_gateway"]
