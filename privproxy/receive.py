"""Request in: bounded body read, JSON object check, model resolution, PPQ key choice.

The result, `Inbound`, holds the exact plaintext to seal: the client's JSON with only `model`
rewritten to the enclave id (PROTOCOL.md 4.3 steps 1-3), compact, key order preserved.
Everything else the client sent (tools, tool_choice, stream_options, images...) passes
through unchanged. Nothing here logs or keeps request content.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import ClassVar

from aiohttp import web

from privproxy.catalog import DEFAULT_MODEL, PRIVATE_PREFIX, CatalogView, split_model
from privproxy.config import Settings
from privproxy.errors import ProxyError
from privproxy.token import token_required

# Caller-supplied PPQ keys (used only when none is configured); shape from the later Node
# revision (PROTOCOL 4.5), widened to the key alphabet PPQ issues.
_CALLER_KEY = re.compile(r"Bearer\s+(sk-[A-Za-z0-9_-]{8,200})")


def _reject_constant(name: str) -> None:
    # NaN/Infinity are not JSON (Node's JSON.parse rejects them; so would the enclave).
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads/dumps with keyword arguments construct a coder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class InvalidRequestError(ProxyError):
    """The local request is malformed (Node's `invalid_request_error`, but 400 not 500)."""

    http_status: ClassVar[int] = 400
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "invalid_request_error"


class UnknownModelError(InvalidRequestError):
    """The model is absent from a successfully fetched catalog."""

    code: ClassVar[str] = "model_not_found"


class BodyTooLargeError(InvalidRequestError):
    """The body exceeds `max_body_bytes`."""

    http_status: ClassVar[int] = 413
    code: ClassVar[str] = "request_too_large"


class ClientTimeoutError(InvalidRequestError):
    """The client did not send its body within `client_read_timeout`."""

    http_status: ClassVar[int] = 408
    code: ClassVar[str] = "request_timeout"


class MissingApiKeyError(ProxyError):
    """No PPQ key configured and none usable in the caller's `Authorization`."""

    http_status: ClassVar[int] = 401
    error_type: ClassVar[str] = "authentication_error"
    code: ClassVar[str] = "missing_api_key"


@dataclass(frozen=True, slots=True)
class Inbound:
    """A validated chat request, ready to seal. Never logged; `repr` shows metadata only."""

    payload: bytes = field(repr=False)  # compact JSON with the enclave model id
    private_model: str  # `private/<id>`, the X-Private-Model header
    stream: bool
    api_key: str = field(repr=False)


def choose_api_key(request: web.Request, settings: Settings) -> str:
    """The configured key, else a well-formed caller `Bearer sk-...` (only when no local
    token is required), else 401."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    # With the local token in force, `Authorization` carries that token, never a PPQ key:
    # forwarding it would hand the local secret to the gateway (docs/configuration.md).
    match = (
        None
        if token_required(settings)
        else _CALLER_KEY.fullmatch(request.headers.get("Authorization", "").strip())
    )
    if match is None:
        raise MissingApiKeyError(
            "No PPQ API key: start the proxy with PPQ_API_KEY (or --api-key-file), or send "
            "'Authorization: Bearer sk-...' with your PPQ key"
        )
    return match.group(1)


def resolve_model(value: object, catalog: CatalogView) -> tuple[str, str]:
    """`private/x` or `x` (or nothing: the default) → (`private/x`, `x`). PROTOCOL 4.3 step 2.

    Against a fetched catalog unknown ids get Node's 400; with only the built-in list any
    well-formed id passes (the enclave answers 404 itself, see docs/configuration.md).
    """
    if value is None or value == "":
        value = DEFAULT_MODEL
    if not isinstance(value, str):
        raise InvalidRequestError("'model' must be a string")
    bare = split_model(value)
    private = PRIVATE_PREFIX + bare if bare is not None else None
    if private is None or (catalog.known and private not in catalog.ids):
        shown = value if len(value) <= 128 else value[:127] + "…"
        raise UnknownModelError(f"Unknown model: {shown}. Available: {', '.join(catalog.ids)}")
    assert bare is not None
    return private, bare


async def receive(request: web.Request, settings: Settings, catalog: CatalogView) -> Inbound:
    """Read and validate one `POST /v1/chat/completions` body."""
    api_key = choose_api_key(request, settings)
    try:
        if request.content.is_eof():
            raw = await request.read()  # fully buffered already: no timer needed
        else:
            async with asyncio.timeout(settings.client_read_timeout):
                raw = await request.read()  # bounded by the app's client_max_size
    except web.HTTPRequestEntityTooLarge as exc:
        raise BodyTooLargeError(
            f"Request body larger than {settings.max_body_bytes} bytes"
        ) from exc
    except TimeoutError as exc:
        raise ClientTimeoutError("Timed out reading the request body") from exc
    try:
        body = _DECODER.decode(raw.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidRequestError("Request body is not valid JSON") from exc
    except RecursionError as exc:  # "[[[[…" nesting bombs (issue #6): a 400, not a 500
        raise InvalidRequestError("Request body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise InvalidRequestError("Request body must be a JSON object")
    private, bare = resolve_model(body.get("model"), catalog)
    body["model"] = bare
    try:
        payload = _ENCODER.encode(body).encode()
    except UnicodeEncodeError as exc:  # a lone surrogate escape such as "\ud800"
        raise InvalidRequestError("Request body contains invalid Unicode escapes") from exc
    except RecursionError as exc:
        raise InvalidRequestError("Request body is nested too deeply") from exc
    return Inbound(payload, private, bool(body.get("stream")), api_key)


__all__ = [
    "BodyTooLargeError",
    "ClientTimeoutError",
    "Inbound",
    "InvalidRequestError",
    "MissingApiKeyError",
    "UnknownModelError",
    "choose_api_key",
    "receive",
    "resolve_model",
]
