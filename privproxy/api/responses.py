"""`POST /v1/responses` and `GET /v1/responses/{id}`: the OpenAI Responses API, translated
in-process onto the sealed chat path (`sealed_chat.open_chat`), so the gateway still sees only
EHBP ciphertext.

request JSON → `translate.responses_request.to_chat` → seal/forward/decrypt →
`chat_stream` deltas → `translate.responses_events.ResponseBuilder` → `response` object or
event stream. Errors before the answer starts are OpenAI-shaped JSON errors (the guard
middleware's `map_error`); after it, `response.failed`. Hosted tools the sealed path cannot
run are dropped, logged by type and named in the `X-Privproxy-Dropped-Tools` header.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, ClassVar

from aiohttp import web

from privproxy.api.responses_store import ResponseStore, owner_of
from privproxy.api.sealed_chat import ChatAnswer, EnclaveAnswerError, open_chat
from privproxy.api.translate.chat_stream import (
    TextDelta,
    chunk_deltas,
    completion_deltas,
    merged_deltas,
)
from privproxy.api.translate.errors import TranslationError, UnexpectedAnswerError
from privproxy.api.translate.responses_events import ResponseBuilder, random_id
from privproxy.api.translate.responses_request import ChatRequest, items_to_messages, to_chat
from privproxy.api.translate.responses_stream import StreamingResponseBuilder
from privproxy.errors import ProxyError
from privproxy.gateway.catalog import PRIVATE_PREFIX
from privproxy.jsoncodec import compact_bytes, utf8
from privproxy.ops.tracing import record_usage, traced
from privproxy.server import guards
from privproxy.server.app_keys import SETTINGS_KEY
from privproxy.server.receive import choose_api_key, receive_object
from privproxy.server.respond import BufferedHeadersResponse

_log = logging.getLogger("privproxy")

DROPPED_TOOLS_HEADER = "X-Privproxy-Dropped-Tools"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
STORE_KEY = web.AppKey("responses_store", ResponseStore)


class ResponseNotFoundError(ProxyError):
    """`GET /v1/responses/{id}` for an id that is not (or no longer) kept."""

    http_status: ClassVar[int] = 404
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "not_found"


def _history(
    request: web.Request, body: dict[str, Any], store: ResponseStore | None
) -> list[dict[str, Any]] | None:
    """The stored conversation `previous_response_id` continues, or None."""
    previous = body.get("previous_response_id")
    if previous is None:
        return None
    if store is None:
        raise TranslationError(
            "previous_response_id",
            "privproxy keeps no conversations: send the whole conversation in 'input' "
            "(or start privproxy with --responses-store-seconds N)",
        )
    if not isinstance(previous, str):
        raise TranslationError("previous_response_id", "must be a string")
    owner = owner_of(choose_api_key(request, request.app[SETTINGS_KEY]))
    entry = store.get(owner, previous)
    if entry is None:
        raise TranslationError(
            "previous_response_id", f"no stored response with id {previous[:80]!r} (expired?)"
        )
    return entry.messages


_LOGGED_DROPS: set[str] = set()
_LOGGED_DROPS_CAP = 64


def _log_dropped(names: str) -> None:
    """Log each distinct set of dropped tools once at INFO (agents send the same hosted
    tools on every turn), later ones at DEBUG. Tool types and names only, never content."""
    first = names not in _LOGGED_DROPS and len(_LOGGED_DROPS) < _LOGGED_DROPS_CAP
    if first:
        _LOGGED_DROPS.add(names)
    _log.log(
        logging.INFO if first else logging.DEBUG,
        "Responses request: dropped tools the sealed chat path cannot run: %s",
        names,
    )


def _failure(err: ProxyError) -> tuple[str, str]:
    code = err.upstream_code if isinstance(err, EnclaveAnswerError) else err.code
    return code, err.message


def _json(obj: dict[str, Any], headers: dict[str, str]) -> web.Response:
    return web.Response(body=compact_bytes(obj), headers=headers, content_type="application/json")


@traced("responses", "/v1/responses")
async def create_response(request: web.Request) -> web.StreamResponse:
    """`POST /v1/responses`."""
    app = request.app
    store = app.get(STORE_KEY)
    received = await receive_object(request, app[SETTINGS_KEY])
    body = received.value
    history = _history(request, body, store)
    translated = to_chat(body, history=history)
    keep = store is not None and body.get("store") is not False
    headers: dict[str, str] = {}
    if translated.dropped_tools:
        # Tool types and namespace names come from the client: only a safe alphabet goes
        # into the header and the log (no CR/LF, no quotes).
        names = ",".join(dict.fromkeys(_UNSAFE.sub("?", n)[:64] for n in translated.dropped_tools))
        _log_dropped(names[:512])
        headers[DROPPED_TOOLS_HEADER] = names[:512]
    response_id, now = random_id("resp"), int(time.time())
    builder: ResponseBuilder
    if translated.stream:
        # The tools as one JSON text, made once (orjson's, or the client's own), stand for
        # them in the final snapshot (Codex sends ~19 KB of them every turn: encoding them
        # with the stdlib was a tenth of its answer).
        tools_json = received.member_json("tools")
        builder = StreamingResponseBuilder(
            translated,
            response_id=response_id,
            created_at=now,
            store=keep,
            tools_json=tools_json,
            exact_echo=received.exact,
        )
    else:
        builder = ResponseBuilder(
            translated, response_id=response_id, created_at=now, store=keep, quiet=True
        )
    # A stored conversation's strings did not come from this request (the stored answers'
    # from the model): only without one does this request's text choose the encoding.
    source = received if history is None else None
    async with await open_chat(request, translated.chat, source) as answer:
        if builder.response["model"] is None:  # the default model, resolved by open_chat
            builder.response["model"] = PRIVATE_PREFIX + translated.chat["model"]
        if translated.stream:
            assert isinstance(builder, StreamingResponseBuilder)
            return await _stream(request, answer, builder, headers, translated, store)
        if answer.event_stream:  # asked for JSON; take a stream too, it is the same answer
            async for chunk in answer.chunks():
                for delta in chunk_deltas(chunk):
                    builder.feed(delta)
        else:
            for delta in completion_deltas(await answer.json()):
                builder.feed(delta)
    builder.finish()
    response = builder.response
    record_usage(request, response["usage"])
    if response["status"] == "failed":
        raise UnexpectedAnswerError(response["error"]["message"])
    if keep and store is not None:
        _keep(request, store, translated, builder)
    return _json(response, headers)


def _keep(
    request: web.Request, store: ResponseStore, translated: ChatRequest, builder: ResponseBuilder
) -> None:
    output = items_to_messages(builder.output, translated.functions, param="output")
    owner = owner_of(choose_api_key(request, request.app[SETTINGS_KEY]))
    if not store.put(owner, builder.response, translated.messages + output):
        _log.info("Responses store: answer larger than the store bound, not kept")


async def _stream(
    request: web.Request,
    answer: ChatAnswer,
    builder: StreamingResponseBuilder,
    headers: dict[str, str],
    translated: ChatRequest,
    store: ResponseStore | None,
) -> web.StreamResponse:
    resp = BufferedHeadersResponse(status=200, headers=headers)
    resp.headers["Content-Type"] = "text/event-stream; charset=utf-8"
    resp.headers["Cache-Control"] = "no-cache"
    guards.add_cors_headers(request, resp)
    await resp.prepare(request)
    out = [builder.start_sse()]  # server-sent-event text not yet written
    try:
        try:
            if answer.event_stream:
                while (batch := await answer.next_pieces()) is not None:
                    # A burst (several chunks in one read): its consecutive text, and
                    # argument pieces of one call, as one delta each (`merged_deltas`).
                    pieces = merged_deltas(batch) if len(batch) > 1 else batch
                    for piece in pieces:  # one write per authenticated read
                        if isinstance(piece, str):  # text (a text-only chunk, or merged)
                            sse = builder.text_sse(piece) or builder.delta_sse(TextDelta(piece))
                        elif isinstance(piece, dict):
                            sse = "".join(map(builder.delta_sse, chunk_deltas(piece)))
                        else:
                            sse = builder.delta_sse(piece)
                        if sse:
                            out.append(sse)
                    if out and not answer.complete:  # else: sent with the end
                        await resp.write(utf8("".join(out)))
                        out = []
            else:
                out += map(builder.delta_sse, completion_deltas(await answer.json()))
            out.append(builder.finish_sse())
            record_usage(request, builder.response["usage"])
        except ProxyError as err:
            _log.warning("Response aborted after headers: %s (%s)", err.code, err.status)
            out.append(builder.encode_text(builder.fail(*_failure(err))))
        await resp.write_eof(utf8("".join(out)))
    except ConnectionError:
        _log.debug("Client disconnected during the response")
        return resp
    if store is not None and builder.response["store"] and builder.response["status"] != "failed":
        _keep(request, store, translated, builder)
    return resp


async def get_response(request: web.Request) -> web.StreamResponse:
    """`GET /v1/responses/{id}`: a stored answer (only with the store enabled)."""
    store = request.app.get(STORE_KEY)
    response_id = request.match_info["id"]
    entry = None
    if store is not None:
        owner = owner_of(choose_api_key(request, request.app[SETTINGS_KEY]))
        entry = store.get(owner, response_id)
    if entry is None:
        shown = response_id if len(response_id) <= 80 else response_id[:79] + "…"
        hint = "" if store is not None else " (privproxy keeps no responses by default)"
        raise ResponseNotFoundError(f"Response with id '{shown}' not found{hint}")
    return _json(entry.response, {})


def add_routes(app: web.Application) -> None:
    """Register the Responses API routes, and the store when the settings enable it."""
    settings = app[SETTINGS_KEY]
    if settings.responses_store_seconds > 0:
        app[STORE_KEY] = ResponseStore(
            ttl=settings.responses_store_seconds,
            max_entries=settings.responses_store_max_entries,
            max_bytes=settings.responses_store_max_bytes,
        )
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses/{id}", get_response)


__all__ = [
    "DROPPED_TOOLS_HEADER",
    "STORE_KEY",
    "ResponseNotFoundError",
    "add_routes",
    "create_response",
    "get_response",
]
