"""The sealed chat path as a library: for client APIs translated onto chat completions.

A translated API (Responses, Messages) builds a chat-completions request dict in-process and
hands it to `open_chat`, which runs exactly the path `POST /v1/chat/completions` runs: model
resolution against the catalog, the PPQ key choice, the EHBP seal to the verified key, the
forward with one re-attest retry on a 422 key-config answer. The answer comes back decrypted
and authenticated (the frame decryptor raises on anything else), as

* `ChatAnswer.json()`: the whole non-stream `chat.completion` object, or
* `ChatAnswer.next_batch()`: the parsed `data:` objects of the chat event stream, in order,
  one list per authenticated read (`chunks()` iterates them one by one).

Failures before anything was handed to the caller are `ProxyError`s raised by `open_chat`
(the first authenticated frame is awaited there, so a caller can still answer with a JSON
error); later ones are `ProxyError`s raised by the iterator, which the caller turns into its
own API's error event. An answer the enclave sent with an error status is raised as
`EnclaveAnswerError`, keeping the status and the enclave's error type and code.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]  # C, exported
from json.encoder import encode_basestring
from typing import Any, ClassVar

from aiohttp import web

from privproxy.api.translate.chat_stream import plain_text
from privproxy.ehbp import seal_request
from privproxy.errors import ProxyError
from privproxy.gateway.forward import KeyConfigMismatchError, Upstream, client_tool_id, send
from privproxy.jsoncodec import decode_answer
from privproxy.ops import metrics
from privproxy.ops.metrics import METRICS_KEY
from privproxy.ops.tracing import TRACE_FACTS_KEY
from privproxy.server.app_keys import CATALOG_KEY, POOL_KEY, PROVIDER_KEY, SETTINGS_KEY
from privproxy.server.drain import DRAIN_KEY
from privproxy.server.receive import (
    Inbound,
    Received,
    choose_api_key,
    encode_json,
    resolve_model,
)
from privproxy.server.respond import HELD_EVENT_CAP, _failure_event, sse_cut
from privproxy.server.router_options import check_router_options

_log = logging.getLogger("privproxy")

ANSWER_CAP = 64 * 1024 * 1024
"""Bytes of a non-stream answer (or an error answer) held at most: it is parsed whole."""

_SHORT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DONE = "[DONE]"


class EnclaveAnswerError(ProxyError):
    """The enclave itself answered with an error status (authenticated); status kept."""

    error_type: ClassVar[str] = "upstream_error"
    code: ClassVar[str] = "upstream_error"

    def __init__(self, message: str, *, status: int, kind: str | None, code: str | None) -> None:
        super().__init__(message, status=status)
        self.kind = kind if kind is not None else self.error_type
        self.upstream_code = code if code is not None else self.code

    def to_json(self) -> dict[str, Any]:
        """OpenAI error shape with the enclave's own `type` and `code`."""
        return {"error": {"message": self.message, "type": self.kind, "code": self.upstream_code}}


class MalformedAnswerError(ProxyError):
    """An authenticated answer that is not the chat JSON or event stream it should be."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "upstream_error"
    code: ClassVar[str] = "malformed_answer"


async def forward_with_rotation(
    app: web.Application, inbound: Inbound, phases: list[tuple[str, int, int]] | None = None
) -> Upstream:
    """Seal to the current key; on 422 key-config re-attest and retry ONCE with a fresh
    seal (new ephemeral key), as the Node stack does (docs/protocol.md §3.6). One coroutine for both
    attempts: every await level is resumed again on each wake-up of the request. With
    `phases` (tracing on, privproxy.ops.tracing), the attestation wait, the seal and the
    time to the gateway's first byte are recorded as (name, start ns, end ns)."""
    provider = app[PROVIDER_KEY]
    pool, settings, observer = app[POOL_KEY], app[SETTINGS_KEY], app.get(METRICS_KEY)
    mark = time.time_ns() if phases is not None else 0
    target = await provider.current()
    for attempt in (1, 2):
        if phases is not None:
            now = time.time_ns()
            phases.append(("privproxy.attestation_wait", mark, now))
            mark = now
        sealed = seal_request(target.hpke_public_key, inbound.payload)
        if phases is not None:
            now = time.time_ns()
            phases.append(("privproxy.seal", mark, now))
            mark = now
        try:
            return await send(
                pool,
                settings,
                target,
                sealed,
                private_model=inbound.private_model,
                api_key=inbound.api_key,
                observe=observer,
                tool_id=inbound.tool_id,
            )
        except KeyConfigMismatchError:
            if attempt == 2:
                raise
            _log.warning("Enclave rejected the key (422 key-config); re-attesting, retrying once")
            metrics.count_stream_event(app, "key_config_retry")
        finally:
            if phases is not None:
                now = time.time_ns()
                phases.append(("privproxy.gateway_first_byte", mark, now))
                mark = now
        target = await provider.refresh(target)
    raise AssertionError("unreachable")  # both attempts return or raise


def _short(value: object) -> str | None:
    return value if isinstance(value, str) and _SHORT.fullmatch(value) else None


def _answer_error(status: int, body: bytes | str) -> EnclaveAnswerError:
    """The error the enclave answered, its message and identifiers kept short."""
    message, kind, code = f"the model answered {status}", None, None
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        obj = None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        text = err.get("message")
        if isinstance(text, str) and text.strip():
            message = " ".join(text.split())[:300]
        kind, code = _short(err.get("type")), _short(err.get("code"))
    elif isinstance(err, str) and err.strip():
        message = " ".join(err.split())[:300]
    return EnclaveAnswerError(
        message, status=status if status >= 400 else 502, kind=kind, code=code
    )


@dataclass(slots=True)
class ChatAnswer:
    """A decrypted sealed-chat answer whose first authenticated bytes are in. Use it as an
    async context manager (or call `close`): it owns a gateway connection until then."""

    _app: web.Application
    _upstream: Upstream
    _first: bytes | None
    _done: bool = False
    _event_stream: bool | None = None
    _held: bytes = b""  # an incomplete trailing event
    _ended: bool = False  # the stream's end was reached
    _shape: _TextShape | None = None

    @property
    def complete(self) -> bool:
        """True once the whole answer was read and authenticated (the batch or body just
        returned is the last): a caller can then send its last bytes with the end."""
        return self._upstream.complete

    @property
    def event_stream(self) -> bool:
        """True when the enclave answered an event stream."""
        if self._event_stream is None:
            value = self._upstream.headers.get("Content-Type") or ""
            media = value.partition(";")[0].strip().lower()
            self._event_stream = media == "text/event-stream"
        return self._event_stream

    async def json(self) -> dict[str, Any]:
        """The whole non-stream answer, parsed (raises `MalformedAnswerError`)."""
        body = await self._read_all()
        try:
            value = decode_answer(body)
        except (ValueError, RecursionError) as exc:
            raise MalformedAnswerError("the model's answer is not JSON") from exc
        if not isinstance(value, dict):
            raise MalformedAnswerError("the model's answer is not a JSON object")
        return value

    async def next_batch(self) -> list[dict[str, Any]] | None:
        """See `next_pieces`; every chunk parsed (for a caller that reads chunks as
        objects)."""
        return await self._next(None)  # type: ignore[return-value]  # no shape: no str

    async def next_pieces(self) -> list[dict[str, Any] | str] | None:
        """`next_batch` for a translating stream: chunks that carry nothing but text
        (`chat_stream.plain_text`) may come as that text, a `str`, instead of the parsed
        chunk (see `_TextShape`), consecutive ones of one read as their text joined (both
        translated APIs define a delta as any piece of the text); everything else as in
        `next_batch`."""
        if self._shape is None:
            self._shape = _TextShape()
        return await self._next(self._shape)

    async def _next(self, shape: _TextShape | None) -> list[dict[str, Any] | str] | None:
        """The chat stream's next `data:` objects, in order: one list per authenticated read
        that completed events (so a caller writes once per read, as the chat relay does);
        None after `[DONE]`, which the stream must have.

        A method, not an async generator, like `Upstream.read`: every wake-up of a stream
        resumes each coroutine frame between the task and the socket wait.

        An in-stream `{"error": ...}` event of the enclave is raised as `EnclaveAnswerError`;
        a stream cut before `[DONE]`, an undecryptable frame or a timeout as its `ProxyError`.
        """
        if self._ended:
            return None
        upstream = self._upstream
        try:
            while True:
                data, self._first = self._first, None
                if data is None:
                    data = await upstream.read()
                    if data is None:
                        return self._stream_end()
                held = self._held
                buf = held + data if held else data
                cut = sse_cut(buf)
                if cut == len(buf):
                    self._held = b""
                else:
                    self._held = buf[cut:]
                    if len(self._held) > HELD_EVENT_CAP:
                        raise MalformedAnswerError("an event of the model's stream is too large")
                    if not cut:
                        continue
                    buf = buf[:cut]
                batch: list[dict[str, Any] | str] = []
                run: list[str] = []  # consecutive text of this read, not yet in `batch`
                block = _text(buf)
                pos, size = 0, len(block)
                while pos < size:
                    end = size
                    if shape is not None:
                        if shape.scans:  # the shape's events, read in place
                            found, pos = shape.scan(block, pos)
                            run += found
                            if pos == size:
                                break
                        elif shape.singles and block.startswith("data: ", pos):
                            # One event alone: it may teach the shape for the rest.
                            shape.singles -= 1
                            cut = block.find("\n\n", pos)
                            end = size if cut < 0 else cut + 2
                    part = block if pos == 0 and end == size else block[pos:end]
                    pos = end
                    for event in _events(part):
                        if event == _DONE:
                            if run:
                                batch.append("".join(run))
                            self._ended = True
                            # What follows `[DONE]` is not part of the answer; it is read to
                            # the end so the connection can be reused.
                            while await upstream.read() is not None:
                                pass
                            return batch or None
                        if shape is None:
                            batch.append(_chunk(event))
                        elif (text := shape.match(event)) is not None:
                            run.append(text)
                        elif type(piece := shape.learn(event, _chunk(event))) is str:
                            run.append(piece)
                        else:
                            if run:
                                batch.append("".join(run))
                                run.clear()
                            batch.append(piece)
                if run:
                    batch.append("".join(run))
                if batch:
                    return batch
        except ProxyError as err:
            self._fail(err)
            raise

    def _stream_end(self) -> list[dict[str, Any] | str] | None:
        # The end marker is part of the authenticated answer: a stream cut at a frame
        # boundary before it is incomplete, not finished.
        self._ended = True
        tail = _events(_text(self._held + b"\n\n")) if self._held.strip() else []
        self._held = b""
        if tail[-1:] != [_DONE]:
            raise MalformedAnswerError("the model's stream ended before its end marker")
        batch: list[dict[str, Any] | str] = [_chunk(event) for event in tail[:-1]]
        return batch or None

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """`next_batch`, one object at a time."""
        while (batch := await self.next_batch()) is not None:
            for chunk in batch:
                yield chunk

    async def _read(self) -> bytes | None:
        try:
            return await self._upstream.read()
        except ProxyError as err:
            self._fail(err)
            raise

    def _take_first(self) -> bytes | None:
        first, self._first = self._first, None
        return first

    async def _read_all(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        data = self._take_first()
        while data is not None:
            size += len(data)
            if size > ANSWER_CAP:
                raise MalformedAnswerError("the model's answer is too large")
            parts.append(data)
            data = await self._read()
        return b"".join(parts)

    def _fail(self, err: ProxyError) -> None:
        if not self._done:
            self._done = True
            metrics.count_stream_event(self._app, _failure_event(err, self._upstream))
            _untrack(self._app, self._upstream)
            self._upstream.close()

    def close(self) -> None:
        """Give the connection back (reused only if the answer was read to its end)."""
        if self._done:
            return
        self._done = True
        _untrack(self._app, self._upstream)
        if self._upstream.complete:
            metrics.count_stream_event(self._app, "completed")
            self._upstream.release()
        else:
            metrics.count_stream_event(self._app, "client_disconnected")
            self._upstream.close()

    async def __aenter__(self) -> ChatAnswer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def _untrack(app: web.Application, upstream: Upstream) -> None:
    drain = app.get(DRAIN_KEY)
    if drain is not None:
        drain.answers.discard(upstream)


def _text(block: bytes) -> str:
    """Complete events as text, decoded once per read (a cut at an event boundary never
    splits a character)."""
    try:
        return block.decode()
    except UnicodeDecodeError as exc:
        raise MalformedAnswerError("the model's stream is not UTF-8") from exc


def _events(block: str) -> list[str]:
    """The `data:` payloads of complete SSE events (comments and other fields skipped)."""
    if block.startswith("data: ") and block.endswith("\n\n") and "\r" not in block:
        # The common shape: every event one `data: ` line. Each boundary between events
        # holds two of the newlines; any other newline means another shape.
        events = block[6:-2].split("\n\ndata: ")
        if block.count("\n") == 2 * len(events):
            return events
    return _events_general(block)


def _events_general(block: str) -> list[str]:
    """`_events` for any shape (multi-line data, CRLF, comments, other fields)."""
    out: list[str] = []
    for event in block.replace("\r\n", "\n").split("\n\n"):
        lines = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if lines:
            out.append("\n".join(lines))
    return out


class _TextShape:
    """Text-only chunks read without parsing them whole.

    A model's stream is mostly chunks that differ only in their text: the same bytes
    before and after one JSON string. Once a chunk that carries nothing but text
    (`chat_stream.plain_text`) was parsed, the bytes around its text token are kept; a later
    event made of exactly those bytes around one valid JSON string token parses to the same
    object with only that text replaced (a string token is a whole JSON value; substituting
    another one changes nothing else), so only the token is scanned, by the decoder's own
    string scanner. Whether the kept token really is the text `plain_text` reads (not
    another member with an equal value, nor one a later duplicate key overrides) is proven
    once per shape, by parsing the shape with another text in it.

    In a read's text, events of the shape are also found in place (`scan`), without cutting
    the text into events first.
    """

    __slots__ = ("_cut", "_head", "_post", "_pre", "_tail", "singles")

    def __init__(self) -> None:
        self._head = self._tail = ""
        self._cut = -1  # len(head), -1 while no shape is known
        self._pre = self._post = ""  # the raw text around a token (`scan`), "" while none
        self.singles = _SINGLES
        """Events a reader may still take one at a time while no shape is known, so that
        those after the one that teaches it can be scanned (`ChatAnswer._next`)."""

    @property
    def scans(self) -> bool:
        """True when `scan` can find events (a shape is known, and it is one line)."""
        return bool(self._pre)

    def scan(self, block: str, pos: int) -> tuple[list[str], int]:
        """The texts of the consecutive events of the shape from `pos` in `block` (a read's
        text, cut at event boundaries), and the position after them. Each is one line,
        `data: ` + head + a string token + tail, then a blank line: exactly an event that
        `_events` gives as head + token + tail and `match` reads."""
        pre, post = self._pre, self._post
        skip, step = len(pre), len(post)
        found: list[str] = []
        starts = block.startswith
        while starts(pre, pos):
            try:
                text, end = _scan_string(block, pos + skip, True)
            except ValueError:
                break  # parsed whole, which raises the stream's own error
            if not text or not starts(post, end):
                break
            found.append(text)
            pos = end + step
        return found, pos

    def match(self, event: str) -> str | None:
        """The text of `event` when it has the known shape (and a non-empty text)."""
        cut = self._cut
        if cut < 0 or not event.startswith(self._head) or not event.endswith(self._tail):
            return None
        end = len(event) - len(self._tail)
        if end <= cut + 1 or event[cut] != '"':
            return None
        try:
            text, stop = _scan_string(event, cut + 1, True)
        except ValueError:
            return None  # parsed whole, which raises the stream's own error
        return text if stop == end and text else None

    def learn(self, event: str, chunk: dict[str, Any]) -> dict[str, Any] | str:
        """`chunk` (parsed from `event`) as a piece: its text when it carries nothing but
        text (`plain_text`), else `chunk`. The first such chunk's shape is kept when its text
        token can be located."""
        text = plain_text(chunk)
        if text is None:
            return chunk
        if self._cut >= 0:  # keep the first shape: a stream has one
            return text
        token = encode_basestring(text)  # how the chunk most likely spells it
        start = event.find(token)
        if start < 0 or event.find(token, start + 1) >= 0:
            return text
        head, tail = event[:start], event[start + len(token) :]
        probe = "a" if text != "a" else "b"
        try:
            again = _chunk(head + encode_basestring(probe) + tail)
        except ProxyError:
            return text
        if plain_text(again) == probe:
            self._head, self._tail, self._cut = head, tail, len(head)
            self.singles = 0  # a shape is known: no more events alone
            if "\n" not in event and "\r" not in event:
                # One line: the data of a multi-line event is its lines joined by "\n",
                # which the raw text spells otherwise.
                self._pre, self._post = "data: " + head + '"', tail + "\n\n"
        return text


_SINGLES = 4  # a stream's first text chunk usually comes first or second (after the role's)


_scan_string = scanstring


def _chunk(text: str) -> dict[str, Any]:
    try:
        value = decode_answer(text)
    except (ValueError, RecursionError) as exc:  # nesting bombs too
        raise MalformedAnswerError("an event of the model's stream is not JSON") from exc
    if not isinstance(value, dict):
        raise MalformedAnswerError("an event of the model's stream is not a JSON object")
    if "error" in value and "choices" not in value:
        raise _answer_error(500, text)
    return value


async def open_chat(
    request: web.Request, body: dict[str, Any], source: Received | None = None
) -> ChatAnswer:
    """Seal `body` (a chat-completions request; `model` is resolved and rewritten here, the
    rest sealed as given) and forward it; return the answer once its first authenticated
    bytes are in. An error status from the enclave is read and raised before that.
    `source`: the client request `body` was translated from (every string of `body` was
    decoded from it or written by the translator); it chooses the encoding
    (`receive.encode_json`)."""
    app = request.app
    settings = app[SETTINGS_KEY]
    api_key = choose_api_key(request, settings)
    # The same router-option policy as the chat intake (privproxy.server.router_options).
    check_router_options(body, settings.allowed_router_options)
    private, bare = resolve_model(body.get("model"), app[CATALOG_KEY].view())
    body["model"] = bare
    tool_id = client_tool_id(request.headers)
    payload = encode_json(body, source)
    inbound = Inbound(payload, private, bool(body.get("stream")), api_key, tool_id)
    facts = request.get(TRACE_FACTS_KEY)  # None unless the request is traced
    if facts is not None:
        facts.model, facts.stream = private, inbound.stream
        facts.request_bytes = len(inbound.payload)
    upstream = await forward_with_rotation(app, inbound, facts.phases if facts else None)
    metrics.count_stream_event(app, "started")
    drain = app.get(DRAIN_KEY)  # lets shutdown cut this answer (privproxy.server.drain)
    if drain is not None:
        drain.answers.add(upstream)
    answer = ChatAnswer(app, upstream, None)
    try:
        answer._first = await answer._read()
        if not 200 <= upstream.status < 300:
            raise _answer_error(upstream.status, await answer._read_all())
    except BaseException:
        answer.close()
        raise
    return answer


__all__ = [
    "ANSWER_CAP",
    "ChatAnswer",
    "EnclaveAnswerError",
    "MalformedAnswerError",
    "forward_with_rotation",
    "open_chat",
]
