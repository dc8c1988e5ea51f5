"""The Anthropic Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`).

Each request is translated into a chat-completions body (`translate.messages_request`) and
sent down exactly the sealed chat path (`sealed_chat.open_chat`: model resolution, key
choice, EHBP seal to the verified key, forward); the decrypted, authenticated answer is
translated back (`translate.messages_response`). Nothing here reaches the gateway but that
sealed body. Errors use Anthropic's shape on these routes: before the answer starts as a JSON
error (the guard middleware's error hook), after it as an in-stream `error` event.

`anthropic-version` and `anthropic-beta` headers are accepted and not needed: the translation
is the same for every version and beta.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any, Final

from aiohttp import web

from privproxy.api.sealed_chat import ChatAnswer, open_chat
from privproxy.api.translate.chat_stream import Delta, Piece, merged_deltas, plain_text
from privproxy.api.translate.messages_request import ChatRequest, to_chat
from privproxy.api.translate.messages_response import MessagesStream, to_message
from privproxy.api.translate.messages_tokens import METHOD, estimate_input_tokens
from privproxy.errors import ProxyError, anthropic_error
from privproxy.gateway.catalog import model_info
from privproxy.jsoncodec import compact_bytes, compact_encode, utf8
from privproxy.ops.tracing import record_usage, traced
from privproxy.server import guards
from privproxy.server.app_keys import CATALOG_KEY, SETTINGS_KEY
from privproxy.server.receive import Received, receive_object, resolve_model
from privproxy.server.respond import BufferedHeadersResponse

_log = logging.getLogger("privproxy")

DROPPED_TOOLS_HEADER: Final = "X-Privproxy-Dropped-Tools"
ESTIMATE_HEADER: Final = "X-Privproxy-Token-Count"
PING_INTERVAL: Final = 10.0
"""Seconds without a visible event after which a `ping` is sent (when the model streams)."""
_HEADER_UNSAFE: Final = re.compile(r"[^\x20-\x7e]")


class StreamEndedEarlyError(ProxyError):
    """The model's stream ended without a finish reason: the answer may be cut short."""

    http_status = 502
    error_type = "upstream_error"
    code = "stream_ended_early"


_TEXT_DELTA: Final = (
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}\n\n'
)


_TEXT_START: Final = (
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}\n\n'
)
_BLOCK_STOP: Final = 'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_BARE: Final = {
    name: f'event: {name}\ndata: {{"type":"{name}"}}\n\n' for name in ("ping", "message_stop")
}
_END: Final = (
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":%s,'
    '"stop_sequence":%s},"usage":{"input_tokens":%d,"output_tokens":%d,'
    '"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d}}\n\n' + _BARE["message_stop"]
)


_START: Final = (
    'event: message_start\ndata: {"type":"message_start","message":{"id":%s,"type":"message",'
    '"role":"assistant","model":%s,"content":[],"stop_reason":null,"stop_sequence":null,'
    '"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,'
    '"cache_read_input_tokens":0}}}\n\n'
)


def _start_text(translator: MessagesStream, message_id: str, model: str) -> str:
    """`_encode_text(translator.start())` for a translator made with `message_id` and
    `model`, written from a template (every stream starts with it)."""
    # `translator.start()` changes nothing: its events are fixed by the id and the model.
    return _START % (encode_basestring(message_id), encode_basestring(model)) + _BARE["ping"]


def _encode_text(events: list[dict[str, Any]]) -> str:
    """`sse.encode_events` before UTF-8, with the frequent events (text deltas above all)
    written from templates: a third of the cost of encoding them as objects, the identical
    bytes."""
    out: list[str] = []
    for event in events:
        kind = event["type"]
        if kind == "content_block_delta" and event["delta"]["type"] == "text_delta":
            text = event["delta"]["text"]
            out.append(_TEXT_DELTA % (event["index"], encode_basestring(text)))
        elif kind == "content_block_stop":
            out.append(_BLOCK_STOP % event["index"])
        elif kind in _BARE and len(event) == 1:
            out.append(_BARE[kind])
        else:
            out.append(f"event: {kind}\ndata: {compact_encode(event)}\n\n")
    return "".join(out)


def _append_text(
    translator: MessagesStream, pieces: Sequence[Piece | Delta], out: list[str]
) -> None:
    """Append to `out` the event text of the pieces of one read (a `ChatAnswer.next_pieces`
    batch, or its `merged_deltas`): text, most pieces, from templates; anything else
    through `feed` / `apply` and `_encode_text`."""
    add_text = translator.add_text
    for piece in pieces:
        if not isinstance(piece, str):
            text = plain_text(piece) if isinstance(piece, dict) else None
            if text is None:  # anything but text: the general path
                events = (
                    translator.feed(piece) if isinstance(piece, dict) else translator.apply([piece])
                )
                if events:
                    out.append(_encode_text(events))
                continue
            piece = text  # a text-only chunk the stream parsed whole
        index = add_text(piece)
        if index is None:  # no text block open
            closed, index = translator.open_text(piece)
            out.append(_open_text(closed, index))
        out.append(_TEXT_DELTA % (index, encode_basestring(piece)))


def _open_text(closed: int | None, index: int) -> str:
    """The events of `MessagesStream.open_text` before the text delta: the closed block's
    `content_block_stop`, if any, and the text block's `content_block_start`."""
    start = _TEXT_START % index
    return start if closed is None else _BLOCK_STOP % closed + start


def _end_text(closed: int | None, reason: str, sequence: str | None, usage: dict[str, int]) -> str:
    """`_encode_text(translator.finish())` from `translator.end()`'s values, written from
    templates (every stream ends with it)."""
    stop = "" if closed is None else _BLOCK_STOP % closed
    return stop + _END % (
        encode_basestring(reason),
        "null" if sequence is None else encode_basestring(sequence),
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cache_creation_input_tokens"],
        usage["cache_read_input_tokens"],
    )


def _encode(events: list[dict[str, Any]]) -> bytes:
    """`sse.encode_events` (see `_encode_text`)."""
    return utf8(_encode_text(events))


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=compact_bytes(body), headers=headers, content_type="application/json")


async def _translate(request: web.Request) -> tuple[ChatRequest, Received]:
    """Read the body and translate it, the model resolved first (aliases, agent defaults)
    so that reasoning settings are mapped only for models that take them; the body as
    received comes along (for `open_chat`)."""
    app = request.app
    settings = app[SETTINGS_KEY]
    received = await receive_object(request, settings)
    raw = received.value
    private, _ = resolve_model(raw.get("model"), app[CATALOG_KEY].view(), settings.model_aliases)
    chat = to_chat(raw, reasoning=model_info(private).reasoning)
    chat.body["model"] = private
    return chat, received


@traced("messages", "/v1/messages")
async def messages(request: web.Request) -> web.StreamResponse:
    """`POST /v1/messages` (also with `?beta=true`, as Claude Code sends it)."""
    chat, source = await _translate(request)
    headers: dict[str, str] = {}
    if chat.dropped_tools:
        # Client-chosen names: printable ASCII only in a header (and a log line), bounded.
        names = _HEADER_UNSAFE.sub("?", ", ".join(chat.dropped_tools))[:512]
        _log.info("Dropped built-in tools the private models cannot run: %s", names)
        headers[DROPPED_TOOLS_HEADER] = names
    message_id = f"msg_{secrets.token_hex(12)}"
    translator = MessagesStream(
        message_id=message_id, model=chat.model, stop_sequences=chat.stop_sequences
    )
    async with await open_chat(request, chat.body, source) as answer:
        if chat.stream:
            start = _start_text(translator, message_id, chat.model)
            return await _stream(request, answer, translator, headers, start)
        if answer.event_stream:  # asked for a whole answer, got a stream: gather it
            async for chunk in answer.chunks():
                translator.feed(chunk)
            _require_finish(translator)
            translator.finish()
            body = translator.message()
        else:
            body = to_message(
                await answer.json(),
                message_id=message_id,
                model=chat.model,
                stop_sequences=chat.stop_sequences,
            )
    record_usage(request, body["usage"])
    return _json(body, headers)


def _require_finish(translator: MessagesStream) -> None:
    if not translator.finished_by_model:
        raise StreamEndedEarlyError("The model's answer ended before it finished")


async def _stream(
    request: web.Request,
    answer: ChatAnswer,
    translator: MessagesStream,
    headers: dict[str, str],
    start: str,
) -> web.StreamResponse:
    """Write the Messages event stream; a failure after the start becomes an `error`
    event (the status is already 200), never a silently shortened answer."""
    # Headers leave with the first events, and every write carries all events ready by then
    # (each write is a send on the client's socket, most of a translated stream's CPU).
    resp = BufferedHeadersResponse(status=200, headers=headers)
    # The header itself: the `content_type` setter parses and rebuilds it (same bytes).
    resp.headers["Content-Type"] = "text/event-stream"
    resp.headers["Cache-Control"] = "no-cache"
    guards.add_cors_headers(request, resp)
    await resp.prepare(request)
    out = [start]  # event text not yet written (`start`: the translator's first events)
    try:
        if answer.event_stream:
            loop = asyncio.get_running_loop()
            last_write = loop.time()
            while (batch := await answer.next_pieces()) is not None:
                # A burst (several chunks in one read): its consecutive text, and argument
                # pieces of one call, as one delta each (`merged_deltas`).
                pieces = merged_deltas(batch) if len(batch) > 1 else batch
                _append_text(translator, pieces, out)  # one write per authenticated read
                if answer.complete:
                    continue  # the last events go out with the end of the body
                now = loop.time()
                if not out and now - last_write >= PING_INTERVAL:
                    # The model is busy (reasoning, which is not relayed): show the client
                    # the stream is alive, as Anthropic's own pings do.
                    out.append(_BARE["ping"])
                if out:
                    await resp.write(utf8("".join(out)))
                    out, last_write = [], now
        else:  # asked for a stream, got a whole answer: send it as one
            out.append(_encode_text(translator.apply_completion(await answer.json())))
        _require_finish(translator)
        closed, reason, sequence, usage = translator.end()
        record_usage(request, usage)
        out.append(_end_text(closed, reason, sequence, usage))
        await resp.write_eof(utf8("".join(out)))
    except ProxyError as err:
        _log.warning("Messages stream aborted: %s (%s)", err.code, err.status)
        out.append(_encode_text([anthropic_error(err.status, err.message)]))
        with contextlib.suppress(ConnectionError):
            await resp.write_eof(utf8("".join(out)))
    except ConnectionError:
        _log.debug("Client disconnected during the Messages stream")
    return resp


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """`POST /v1/messages/count_tokens`: a local estimate (no gateway traffic), marked as
    one by a header and a field."""
    chat, _ = await _translate(request)
    body = {"input_tokens": estimate_input_tokens(chat.body), "estimate": True}
    return _json(body, {ESTIMATE_HEADER: METHOD})


def add_routes(app: web.Application) -> None:
    """Register the Messages routes."""
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)


__all__ = [
    "DROPPED_TOOLS_HEADER",
    "ESTIMATE_HEADER",
    "StreamEndedEarlyError",
    "add_routes",
    "count_tokens",
    "messages",
]
