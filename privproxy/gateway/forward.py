"""Forward: the proxy's only network module (docs/protocol.md §1.3). Ciphertext out, frames in.

One keep-alive connection pool per application (`privproxy.gateway.h1.Pool`, a strict HTTP/1.1
client; aiohttp's client cost most of the per-request budget, docs/performance.md) sends the
sealed body to `{apiBase}/private/v1/chat/completions` and fetches the model catalog.
Transport errors are translated here, once:

* ProxyError
  + GatewayError              plaintext non-2xx from the gateway (status passed through)
  + KeyConfigMismatchError    422 problem+json key-config (caller refreshes and retries once)
  + GatewayUnreachableError   502, connection failed or broke
  + GatewayTimeoutError       504, connect / first-byte / idle timeout, stream too long
  + FrameBudgetError          503, the process-wide budget for partly received frames is spent
  + ShuttingDownError         503, the proxy is shutting down (streams cut at the deadline)
  + EhbpError (privproxy.ehbp) 502, 2xx without nonce, bad nonce, bad or truncated frame, an
                              answer with a nonce but no authenticated non-empty frame

An answer WITH `Ehbp-Response-Nonce` came from the enclave (any status) and is decrypted;
one WITHOUT it is untrusted plaintext from the gateway (docs/protocol.md §3.5). Nothing of an answer
with a nonce, not even its status, is used before its first non-empty frame authenticated: an
empty body, only zero-length frames, or a status that cannot carry a body is a gateway fault.

Failures free what the answer held at once (`Upstream.close`): the partly received frame is
dropped and its bytes returned to the budget, and no stored exception keeps a traceback (whose
frames would reach the decryptor through a cycle only a full collection frees).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from privproxy import __version__
from privproxy.ehbp import (
    ENCAPSULATED_KEY_HEADER,
    KEY_CONFIG_PROBLEM_TYPE,
    RESPONSE_NONCE_HEADER,
    EhbpError,
    EhbpProtocolError,
    FrameDecryptor,
    SealedRequest,
)
from privproxy.enclave.provider import EnclaveTarget
from privproxy.errors import ProxyError
from privproxy.gateway.h1 import Body, ConnectTimeoutError, Headers, Pool, Response, TransportError
from privproxy.server.config import ConfigError, Settings

CHAT_PATH = "/private/v1/chat/completions"
CATALOG_PATH = "/v1/models?type=all"
USER_AGENT = f"privproxy/{__version__}"
ERROR_BODY_CAP = 16 * 1024  # bytes of a plaintext gateway error we read
ERROR_TEXT_CAP = 300  # characters of it we show
CATALOG_BODY_CAP = 4 * 1024 * 1024
CATALOG_MAX_ENTRIES = 10_000  # a catalog is a few dozen models; more is a hostile gateway
CATALOG_MAX_ID = 256  # characters of one model id; longer ids are skipped
# Statuses whose answer cannot carry a body (RFC 9110), so never an authenticated one.
_BODYLESS_STATUSES = frozenset({204, 205, 304})

_log = logging.getLogger("privproxy.forward")

TOOL_ID_HEADER = "X-Tool-Id"
"""Client header naming the calling tool, passed on to the gateway when well-formed."""
# ASCII word characters only: `\w` alone would let any Unicode letter into a header value.
_TOOL_ID = re.compile(r"[\w:.-]{1,64}", re.ASCII)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_RETRY_AFTER = re.compile(r"[0-9A-Za-z ,:]{1,64}")  # delta-seconds or an HTTP-date


class GatewayObserver(Protocol):
    """What `send` reports to (`privproxy.ops.metrics.Metrics` implements it)."""

    def observe_ttfb(self, seconds: float) -> None:
        """The answer's headers arrived `seconds` after the request was sent."""

    def count_gateway(self, status: int, encrypted: bool) -> None:
        """The gateway answered `status`, EHBP-encrypted or not."""


class GatewayError(ProxyError):
    """A plaintext (unauthenticated) non-2xx answer of the PPQ gateway, status kept."""

    error_type = "gateway_error"
    code = "gateway_error"

    def __init__(self, message: str, *, status: int, retry_after: str | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Extra response headers to keep (`Retry-After` on 429/503)."""
        return {"Retry-After": self.retry_after} if self.retry_after else {}


class GatewayAuthenticationError(GatewayError):
    """The gateway's plaintext 401: the PPQ key was refused (Node's `authentication_error`)."""

    error_type = "authentication_error"
    code = "gateway_authentication_error"


class KeyConfigMismatchError(ProxyError):
    """The enclave rejected our key (422 key-config, docs/protocol.md §3.6). 502 if it persists."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "ehbp_key_config_error"
    code: ClassVar[str] = "ehbp_key_config_error"


class GatewayUnreachableError(ProxyError):
    """The gateway could not be reached, or the connection broke."""

    http_status: ClassVar[int] = 502
    error_type: ClassVar[str] = "gateway_unreachable"
    code: ClassVar[str] = "gateway_unreachable"


class GatewayTimeoutError(ProxyError):
    """Connect, first-byte or idle timeout toward the gateway, or an answer that outlived
    `upstream_max_stream_seconds`."""

    http_status: ClassVar[int] = 504
    error_type: ClassVar[str] = "gateway_timeout"
    code: ClassVar[str] = "gateway_timeout"


class FrameBudgetError(ProxyError):
    """The process-wide budget for partly received response frames is spent: new answers are
    refused and an answer that would grow past it fails, instead of memory growing."""

    http_status: ClassVar[int] = 503
    error_type: ClassVar[str] = "proxy_error"
    code: ClassVar[str] = "frame_budget_exhausted"

    def headers(self) -> dict[str, str]:
        """Extra response headers (`Retry-After`)."""
        return {"Retry-After": "1"}


class ShuttingDownError(ProxyError):
    """The proxy is shutting down and cut this answer at the shutdown deadline."""

    http_status: ClassVar[int] = 503
    error_type: ClassVar[str] = "proxy_error"
    code: ClassVar[str] = "shutting_down"


class FrameBudget:
    """Bytes of partly received frames held by all answers of the process, against a limit.

    One per process (`FRAME_BUDGET`): the bound is on the process's memory, whatever number
    of applications it runs. Each `Upstream` charges what its decryptor holds back and gives
    it back when it ends; the limit is the one of the settings of the request being charged.
    """

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


FRAME_BUDGET = FrameBudget()


def create_pool(settings: Settings) -> Pool:
    """The gateway connection pool: no decompression (frames are parsed on the exact bytes
    the enclave sealed, docs/protocol.md §3.5), no cookies, no redirects, no env proxies. First-byte
    and idle waits are enforced below; connects by `upstream_connect_timeout`.

    Raises `ConfigError` when `api_base` is not usable (`Settings` validates it already;
    this keeps a value that slipped past as a start-up error, never a failure per request)."""
    try:
        return Pool(
            settings.api_base,
            limit=max(512, settings.max_concurrent_requests),
            connect_timeout=settings.upstream_connect_timeout,
            default_headers=[("User-Agent", USER_AGENT)],
        )
    except ValueError as exc:
        raise ConfigError(f"unusable api_base {settings.api_base!r}: {exc}") from exc


class Upstream:
    """An encrypted enclave answer whose headers have arrived; body not read yet.

    Waits are bounded by ONE timer per answer, not a timer per read (docs/protocol.md §4.4 bounds):
    until the first authenticated frame the deadline is the request's first-byte deadline,
    afterwards `idle_timeout` from the first wait after the last authenticated frame, so
    zero-length frames or a frame trickled byte by byte do not extend it; and never later
    than `max_stream` seconds after the answer started. The timer is armed lazily and
    re-arms itself when it fires early, so a read costs one clock read instead of a timer
    (`asyncio.timeout` per read cost 3-6 us, docs/performance.md).

    Bytes the decryptor holds back (a partly received frame) are charged to `FRAME_BUDGET`
    against `budget_limit`; a read that takes it past the limit fails with `FrameBudgetError`.
    """

    def __init__(
        self,
        resp: Response,
        decryptor: FrameDecryptor,
        idle_timeout: float,
        first_deadline: float | None = None,
        *,
        max_stream: float = float("inf"),
        budget_limit: int | None = None,
    ) -> None:
        self._resp = resp
        self._decryptor = decryptor
        self._idle = idle_timeout
        self._loop = loop = asyncio.get_running_loop()
        self._end = loop.time() + max_stream  # the whole answer must be in by then
        # Absolute loop time by which the first authenticated frame must be in.
        self._deadline = min(
            first_deadline if first_deadline is not None else loop.time() + idle_timeout,
            self._end,
        )
        self._fresh = False  # the next wait starts a new idle period (a frame came in)
        self._waiting: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._authenticated = False
        self._failure: ProxyError | None = None
        self._budget_limit = budget_limit
        self._charged = 0  # bytes of FRAME_BUDGET this answer holds
        self.at_eof = False  # the upstream body ended (an EHBP error then means truncation)
        self.complete = False  # ... and every frame of it was authenticated

    @property
    def status(self) -> int:
        """HTTP status chosen by the enclave (authenticated only through the body)."""
        return self._resp.status

    @property
    def headers(self) -> Headers:
        """Response headers as received (plaintext, unauthenticated)."""
        return self._resp.headers

    async def read(self) -> bytes | None:
        """The next authenticated plaintext: every frame that one upstream read completed,
        joined, as it arrives; None once the body ended cleanly. Raises on any framing or AEAD
        failure and on a truncated final frame (§3.5); frames authenticated before a
        failure in the same read are returned first, the failure on the next call. `complete`
        is True before the last piece is returned when the body ended cleanly, so a caller can
        tell that a piece is the whole rest of the answer.

        A method, not an async generator: each wake-up of a relayed stream resumes every
        coroutine frame between the task and this wait, so the chain is kept short."""
        if self._failure is not None:
            raise self._take_failure()
        if self.complete:
            return None
        content = self._resp.content
        decryptor = self._decryptor
        try:
            while True:
                # Take what is buffered without waiting (the common case); wait, bounded by
                # the watchdog, only when nothing is there.
                data = content.read_nowait()
                if not data:
                    if content.at_eof():
                        self.at_eof = True
                        decryptor.finish()
                        self.complete = True
                        if not self._authenticated:
                            raise _empty_answer()
                        return None
                    await self._wait(content)
                    continue
                frames = decryptor.push(data)
                if decryptor.buffered != self._charged:
                    self._charge(decryptor.buffered)
                ended = content.at_eof()
                if ended:
                    self.at_eof = True
                    try:
                        decryptor.finish()
                        self.complete = True
                    except EhbpError as exc:
                        if not frames:
                            raise
                        # Delivered after what was authenticated; kept without its traceback
                        # (its frames would make a cycle through this object).
                        self._failure = exc.with_traceback(None)
                if frames:
                    self._authenticated = self._fresh = True
                    return frames[0] if len(frames) == 1 else b"".join(frames)
                if ended:
                    if not self._authenticated:
                        raise _empty_answer()
                    return None
        except TransportError as exc:
            code = exc.code
            # The body keeps this exception; without its traceback it reaches no frame.
            exc.__traceback__ = None
            raise GatewayUnreachableError(
                f"connection to the gateway broke mid-response ({code})"
            ) from None

    def _take_failure(self) -> ProxyError:
        # Raised straight from the return value: a local holding it would make a cycle
        # (the exception's traceback holds the frame, the frame the exception).
        failure, self._failure = self._failure, None
        assert failure is not None
        return failure

    def _charge(self, buffered: int) -> None:
        budget = FRAME_BUDGET
        budget.used += buffered - self._charged
        grew = buffered > self._charged
        self._charged = buffered
        limit = self._budget_limit
        if grew and limit is not None and budget.used > limit:
            self._decryptor.discard()
            self._uncharge()
            raise FrameBudgetError(
                "the proxy's memory budget for partly received response frames is spent"
            )

    def _uncharge(self) -> None:
        FRAME_BUDGET.used -= self._charged
        self._charged = 0

    def interrupt(self, error: ProxyError) -> None:
        """Make the pending or next `read` raise `error` (used to cut answers at shutdown)."""
        if self._failure is None:
            self._failure = error
        waiter = self._waiting
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, content: Body) -> None:
        waiter = content.data_waiter()
        if waiter is None:
            return
        loop = self._loop
        if self._fresh:  # the first wait since a frame was authenticated
            self._fresh = False
            self._deadline = min(loop.time() + self._idle, self._end)
        timer = self._timer
        if timer is None or timer.when() > self._deadline:  # the idle deadline may be sooner
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(self._deadline, self._on_timer)
        self._waiting = waiter
        try:
            await waiter
        finally:
            self._waiting = None
        if self._failure is not None:  # the watchdog or `interrupt` woke us
            raise self._take_failure()

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiting is None:
            return  # re-armed by the next wait
        loop = self._loop
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._on_timer)
            return
        # Wakes the pending wait, which raises this error; the connection is then dropped.
        if loop.time() >= self._end:
            message = "the answer took longer than the proxy allows for one answer"
        elif self._authenticated:
            message = "the gateway stopped sending mid-response"
        else:
            message = "the PPQ gateway did not answer in time"
        self.interrupt(GatewayTimeoutError(message))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Drop the connection and what the answer held (safe to call more than once)."""
        self._cancel_timer()
        self._failure = None
        self._decryptor.discard()
        if self._charged:
            self._uncharge()
        self._resp.close()

    def release(self) -> None:
        """Return a fully read connection to the pool."""
        self._cancel_timer()
        if self._charged:
            self._uncharge()
        self._resp.release()


def _empty_answer() -> EhbpError:
    message = (
        "the gateway's answer carried an EHBP nonce but no authenticated non-empty frame; "
        "refusing it (not from the enclave)"
    )
    _log.warning("Gateway fault: %s", message)
    return EhbpProtocolError(message)


async def send(
    pool: Pool,
    settings: Settings,
    target: EnclaveTarget,
    sealed: SealedRequest,
    *,
    private_model: str,
    api_key: str,
    observe: GatewayObserver | None = None,
    tool_id: str | None = None,
) -> Upstream:
    """POST the sealed body and classify the answer (docs/protocol.md §1.3, 3.5).

    Returns an `Upstream` only for an answer carrying a nonce; everything else raises.
    `observe` (the app's `Metrics`) learns the time to the answer's headers and its status.
    Refused with `FrameBudgetError` (503) before anything is sent when three quarters of the
    frame budget are in use: a new answer then waits for the client's retry instead of growing
    memory, and the answers already running keep room to complete their frames.
    `tool_id` is the client's `X-Tool-Id` (see `client_tool_id`); sent only when well-formed.
    """
    limit = settings.frame_budget_bytes
    if FRAME_BUDGET.used >= limit - limit // 4:  # running answers keep room for their frames
        raise FrameBudgetError(
            "the proxy's memory budget for partly received response frames is spent; retry"
        )
    headers = [
        ("Authorization", f"Bearer {api_key}"),
        ("X-Private-Model", private_model),
        ("x-query-source", "api"),
        ("X-Tinfoil-Enclave-Url", target.enclave_url),
        (ENCAPSULATED_KEY_HEADER, sealed.enc_hex),
        ("Content-Type", "application/json"),
        ("Accept-Encoding", "identity"),
    ]
    if tool_id is not None and _TOOL_ID.fullmatch(tool_id) is not None:
        headers.append((TOOL_ID_HEADER, tool_id))
    # One deadline for the headers AND the first authenticated frame (docs/protocol.md §4.4).
    started = asyncio.get_running_loop().time()
    deadline = started + settings.upstream_first_byte_timeout
    try:
        # Sent with Content-Length, never chunked.
        resp = await pool.request("POST", CHAT_PATH, headers, sealed.body, deadline=deadline)
    except TimeoutError as exc:
        raise GatewayTimeoutError("the PPQ gateway did not answer in time") from exc
    except ConnectTimeoutError as exc:
        raise GatewayTimeoutError("the PPQ gateway could not be reached in time") from exc
    except TransportError as exc:
        raise GatewayUnreachableError(f"cannot reach the PPQ gateway ({exc.code})") from exc
    except ValueError as exc:
        # A header the client refuses to send (Settings validates every configured one).
        raise ConfigError(f"a configured value cannot be sent to the gateway: {exc}") from exc

    try:
        nonce = resp.headers.get(RESPONSE_NONCE_HEADER)
        if observe is not None:
            observe.observe_ttfb(asyncio.get_running_loop().time() - started)
            observe.count_gateway(resp.status, nonce is not None)
        if nonce is None:
            await _raise_plaintext_answer(resp, settings.upstream_idle_timeout, deadline)
        status = resp.status
        if status < 200 or 300 <= status < 400 or status in _BODYLESS_STATUSES:
            # An authenticated answer is a body; this status cannot carry one (or, for a
            # redirect, must not be followed): the gateway made it up.
            message = (
                f"the gateway answered {status} with an EHBP nonce, which cannot be authenticated"
            )
            _log.warning("Gateway fault: %s", message)
            raise EhbpProtocolError(message)
        if not resp.framed:
            # Ended by the connection's close, a cut at a frame boundary would look like the
            # end of the answer (over TLS also a close without close_notify): refuse it.
            raise EhbpProtocolError(
                f"PPQ gateway sent an answer with {RESPONSE_NONCE_HEADER} that is not framed "
                "by chunked encoding or Content-Length; refusing it (truncation undetectable)"
            )
        decryptor = sealed.secret.decryptor(nonce, max_frame=settings.max_response_frame_bytes)
    except BaseException:
        resp.close()
        raise
    return Upstream(
        resp,
        decryptor,
        settings.upstream_idle_timeout,
        deadline,
        max_stream=settings.upstream_max_stream_seconds,
        budget_limit=settings.frame_budget_bytes,
    )


def client_tool_id(headers: Mapping[str, str]) -> str | None:
    """The local request's `X-Tool-Id` when it is 1-64 ASCII letters, digits, `_:.-`; None
    (the header is dropped) for anything else, so no client can put other bytes upstream."""
    value = headers.get(TOOL_ID_HEADER)
    if value is None or _TOOL_ID.fullmatch(value) is None:
        return None
    return value


async def _raise_plaintext_answer(resp: Response, idle: float, deadline: float) -> None:
    """Turn an answer without nonce into the honest error (docs/protocol.md §3.5, 4.4). Its body is
    read within the request's first-byte deadline: a trickled error body cannot hold the
    request (and a pool connection) longer than an answer would have."""
    status = resp.status
    if 200 <= status < 300:
        # Body-substitution protection: a success must come from the enclave.
        raise EhbpProtocolError(
            f"PPQ gateway answered {status} without {RESPONSE_NONCE_HEADER}; refusing an "
            "unauthenticated success body"
        )
    body = await _read_capped(resp, ERROR_BODY_CAP, idle, deadline)
    ctype = resp.headers.get("Content-Type", "")
    if status == 422 and ctype.startswith("application/problem+json"):
        problem = _json_or_none(body)
        if isinstance(problem, dict) and problem.get("type") == KEY_CONFIG_PROBLEM_TYPE:
            title = problem.get("title")
            raise KeyConfigMismatchError(
                "enclave rejected the encryption key: "
                + (_sanitize(title) if isinstance(title, str) else "key-config mismatch")
            )
    retry_after = None
    if status in (429, 503):
        value = resp.headers.get("Retry-After", "").strip()
        retry_after = value if _RETRY_AFTER.fullmatch(value) else None
    text = _error_text(body) or _sanitize(resp.reason) or "no details"
    cls = GatewayAuthenticationError if status == 401 else GatewayError
    raise cls(
        f"PPQ gateway answered {status} (not from the enclave): {text}",
        status=status if 400 <= status <= 599 else 502,
        retry_after=retry_after,
    )


async def _read_capped(
    resp: Response, cap: int, idle: float, deadline: float | None = None
) -> bytes:
    """Up to `cap` bytes of the body: each read within `idle`, all of them by `deadline`."""
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            while size < cap:
                async with asyncio.timeout(idle):
                    data = await resp.content.readany()
                if not data:
                    break
                parts.append(data)
                size += len(data)
    except TimeoutError:
        pass  # an error body is informational; keep what arrived
    except TransportError as exc:
        exc.__traceback__ = None  # the body keeps it; its traceback would hold this frame
    return b"".join(parts)[:cap]


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error_text(body: bytes) -> str:
    """A short, printable summary of an untrusted error body (never echoed raw)."""
    obj = _json_or_none(body)
    text: Any = None
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            text = err.get("message")
        elif isinstance(err, str):
            text = err
        for key in ("message", "detail", "title"):
            if not isinstance(text, str):
                text = obj.get(key)
    if not isinstance(text, str):
        text = body.decode("utf-8", errors="replace")
    return _sanitize(text)


def _sanitize(text: str) -> str:
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > ERROR_TEXT_CAP:
        text = text[: ERROR_TEXT_CAP - 1] + "…"
    return text


async def fetch_catalog(pool: Pool, settings: Settings) -> list[str]:
    """Model ids of the PPQ catalog (`GET {apiBase}/v1/models?type=all`), unauthenticated.

    Accepts `{"data": [{"id": ...}]}` or a bare list; raises a `ProxyError` otherwise.
    """
    try:
        async with asyncio.timeout(settings.upstream_connect_timeout + 20.0):
            resp = await pool.request("GET", CATALOG_PATH, [("Accept-Encoding", "identity")])
            try:
                if resp.status != 200:
                    raise GatewayError(f"catalog answered {resp.status}", status=502)
                body = await _read_capped(
                    resp, CATALOG_BODY_CAP + 1, settings.upstream_idle_timeout
                )
            finally:
                resp.release()  # reused only if the body was read to its end
    except (TimeoutError, ConnectTimeoutError) as exc:
        raise GatewayTimeoutError("catalog fetch timed out") from exc
    except TransportError as exc:
        raise GatewayUnreachableError(f"catalog fetch failed ({exc.code})") from exc
    if len(body) > CATALOG_BODY_CAP:
        raise GatewayError("catalog too large", status=502)
    return _catalog_ids(_json_or_none(body))


def _catalog_ids(obj: Any) -> list[str]:
    entries = obj.get("data") if isinstance(obj, Mapping) else obj
    if not isinstance(entries, list):
        raise GatewayError("catalog has an unknown format", status=502)
    if len(entries) > CATALOG_MAX_ENTRIES:
        raise GatewayError("catalog has too many entries", status=502)
    ids: list[str] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            model_id = entry.get("id")
            if isinstance(model_id, str) and len(model_id) <= CATALOG_MAX_ID:
                ids.append(model_id)
    return ids


__all__ = [
    "FRAME_BUDGET",
    "TOOL_ID_HEADER",
    "FrameBudget",
    "FrameBudgetError",
    "GatewayAuthenticationError",
    "GatewayError",
    "GatewayTimeoutError",
    "GatewayUnreachableError",
    "KeyConfigMismatchError",
    "ShuttingDownError",
    "Upstream",
    "client_tool_id",
    "create_pool",
    "fetch_catalog",
    "send",
]
