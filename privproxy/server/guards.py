"""Local-endpoint guards: Host allowlist, Origin/CORS, local token, content type, load limits.

The Node proxy answered every local process and every web page (CORS `*`, no Host check, no
authentication; docs/protocol.md §4.4). `build_middlewares(settings)` returns the middleware
`app.py` installs in front of every handler; it runs these checks in this order, and each
refuses before anything reaches the handler, so a refused request never causes gateway traffic:

1. Host allowlist (DNS rebinding): loopback names, the bind address, `--allowed-host`. 403.
2. Origin: a browser request (it carries `Origin`) must be same-origin or come from an
   `--allowed-origin`; CORS headers (never `*`) and preflight answers only for those. 403.
   The status page's own forms (`SAME_ORIGIN_PATHS`: login, logout, storing the PPQ key)
   are refused to every other origin, allowed ones included, and to any browser request
   whose `Sec-Fetch-Site` is not `same-origin`.
3. Local token (`privproxy.server.token`): `Authorization: Bearer <token>` or, as Anthropic
   clients send their key, `x-api-key: <token>`; constant time. 401 with `WWW-Authenticate`.
   Health probes and CORS preflights are exempt. Accepting `x-api-key` opens no new path:
   it is not a CORS-safelisted header, so a page can only send it after a preflight, which
   is answered for allowed origins only; and a header holding the token is never forwarded
   (`receive.choose_api_key` takes no caller key at all while the token is required).
   A browser may instead present the status-page session cookie (`privproxy.server.session`),
   honoured only on `SESSION_ROUTES` (the page, `/v1/verification`, the page's forms; POSTs
   only same-origin), never on an API route; `POST /login` itself is let through
   same-origin (its handler checks the token). A browser asking for `/` without either gets
   the login page (the `challenge` hook) instead of the JSON 401.
4. Content type: anything but GET/HEAD/OPTIONS must be `application/json` (or `+json`).
   The CORS-simple types (`text/plain`, form encodings, none at all) are what a page can send
   without a preflight, so refusing them (415) closes that path even for a mis-set origin.
   The one exception: a same-origin form post to `SAME_ORIGIN_PATHS` (the page's forms).
5. Load: a declared `Content-Length` above `max_body_bytes` is refused (413) before any byte of
   the body is read; at most `max_concurrent_requests` requests run at once (503, Retry-After).

What is not here: reading and parsing bodies (`receive.py`, bounded by `client_max_size` and
`client_read_timeout`), upstream timeouts (`forward.py`), the cap on open connections and the
client write timeout (`connections.py`, below the HTTP layer). `server_options(settings)` gives the
`web.Application` keyword arguments that bound what aiohttp itself reads (body size, header
sizes and count, how long a connection may take to send its request line and headers).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from privproxy.errors import ProxyError, wants_anthropic_errors
from privproxy.server.drain import Drain
from privproxy.server.session import COOKIE_NAME, StatusSessions
from privproxy.server.token import resolve_token

if TYPE_CHECKING:
    from privproxy.server.config import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names always accepted; any 127.0.0.0/8 literal is accepted too."""

TOKEN_EXEMPT_PATHS: Final = frozenset({"/health", "/healthz", "/readyz"})
"""GET/HEAD paths answered without the token: liveness probes (container HEALTHCHECK) reveal
only up/down and attestation state, never content, and still pass the Host/Origin guards."""

X_API_KEY: Final = "x-api-key"
LOGIN_PATH: Final = "/login"
LOGOUT_PATH: Final = "/logout"
SETUP_API_KEY_PATH: Final = "/setup/api-key"
SAME_ORIGIN_PATHS: Final = frozenset({LOGIN_PATH, LOGOUT_PATH, SETUP_API_KEY_PATH})
"""The status page's form targets: answered to the page's own origin only (or to a caller
that is no browser page at all), never cross-origin."""
SESSION_ROUTES: Final = frozenset(
    {
        ("GET", "/"),
        ("HEAD", "/"),
        ("GET", "/v1/verification"),
        ("HEAD", "/v1/verification"),
        ("GET", LOGIN_PATH),  # only redirects to the page
        ("POST", LOGOUT_PATH),
        ("POST", SETUP_API_KEY_PATH),
    }
)
"""(method, path) pairs on which the status-page session cookie stands in for the token."""
FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"

CORS_ALLOW_METHODS: Final = "GET, POST, OPTIONS"
# Request headers an allowed origin may send: what OpenAI SDKs send from a browser.
_CORS_HEADER_NAMES: Final = frozenset(
    {
        "authorization",
        "content-type",
        "accept",
        "openai-organization",
        "openai-project",
        X_API_KEY,
    }
)
_CORS_HEADER_PREFIXES: Final = ("x-stainless-", "anthropic-")
CORS_MAX_AGE: Final = "600"
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_PAGE_METHODS: Final = frozenset({"GET", "HEAD"})
_CHALLENGE_PATHS: Final = frozenset({"/", LOGIN_PATH})  # where a browser gets the login form
_OWN_FETCH_SITES: Final = frozenset({"same-origin", "none"})  # "none": typed or bookmarked
_CLOSE_AFTER: Final = frozenset({408, 413})

CORS_ORIGIN_KEY: Final = web.RequestKey("privproxy_cors_origin", str)
"""Set on requests from an allowed cross origin; `apply_cors_headers` reads it."""


class GuardRefusalError(ProxyError):
    """Root of the guard refusals; each is answered directly as OpenAI-style JSON."""

    http_status: ClassVar[int] = 403
    error_type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str] = "forbidden"
    close_connection: ClassVar[bool] = False

    def headers(self) -> dict[str, str]:
        """Extra response headers for this refusal."""
        return {}


class HostNotAllowedError(GuardRefusalError):
    """The Host header names a host that is not ours (DNS rebinding)."""

    code: ClassVar[str] = "host_not_allowed"


class OriginNotAllowedError(GuardRefusalError):
    """A browser request from an origin not on `--allowed-origin`."""

    code: ClassVar[str] = "origin_not_allowed"


class TokenRequiredError(GuardRefusalError):
    """Missing or wrong local token."""

    http_status: ClassVar[int] = 401
    error_type: ClassVar[str] = "authentication_error"
    code: ClassVar[str] = "invalid_local_token"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="privproxy"'}


class UnsupportedMediaTypeError(GuardRefusalError):
    """The request body is not declared as JSON."""

    http_status: ClassVar[int] = 415
    code: ClassVar[str] = "unsupported_media_type"


class PayloadTooLargeError(GuardRefusalError):
    """The declared body length exceeds `max_body_bytes`."""

    http_status: ClassVar[int] = 413
    code: ClassVar[str] = "request_too_large"
    close_connection: ClassVar[bool] = True  # the body was not read: do not reuse the connection


class TooManyRequestsError(GuardRefusalError):
    """More than `max_concurrent_requests` requests in flight."""

    http_status: ClassVar[int] = 503
    error_type: ClassVar[str] = "proxy_error"
    code: ClassVar[str] = "server_busy"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """What the guards enforce, resolved once from `Settings`."""

    allowed_hosts: frozenset[str]
    allowed_origins: frozenset[str]
    token: str | None = field(repr=False)
    max_body_bytes: int
    max_concurrent_requests: int
    sessions: StatusSessions | None = field(default=None, repr=False)  # with the token only

    @classmethod
    def from_settings(cls, settings: Settings) -> GuardPolicy:
        """Resolve the policy (reads or creates the token file when a token is required)."""
        hosts = set(LOOPBACK_NAMES)
        hosts.update(_host_name(h) for h in settings.allowed_hosts)
        bind = _host_name(settings.host)
        if not _is_unspecified(bind):  # the name or address the user chose to bind
            hosts.add(bind)
        token = resolve_token(settings)
        return cls(
            allowed_hosts=frozenset(hosts),
            allowed_origins=frozenset(normalize_origin(o) for o in settings.allowed_origins),
            token=token,
            max_body_bytes=settings.max_body_bytes,
            max_concurrent_requests=settings.max_concurrent_requests,
            sessions=StatusSessions(token) if token is not None else None,
        )

    def host_allowed(self, host_header: str | None) -> bool:
        """True when the Host header names this proxy (port ignored)."""
        if not host_header:
            return False  # HTTP/1.1 requires Host; without it we cannot tell who is asked
        name = _host_name(host_header)
        if name in self.allowed_hosts:
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def token_matches(self, authorization: str | None, x_api_key: str | None = None) -> bool:
        """Constant-time check of `Authorization: Bearer <token>`, or of `x-api-key: <token>`
        (where Anthropic clients put their key; see the module docstring)."""
        if self.token is None:
            return True
        expected = self.token.encode()
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            presented = ""
        bearer_ok = hmac.compare_digest(presented.strip().encode(), expected)
        header_ok = hmac.compare_digest((x_api_key or "").strip().encode(), expected)
        return bearer_ok | header_ok  # both compared: no timing hint of which one was tried

    def token_equals(self, presented: str) -> bool:
        """Constant-time check of a presented token value (the login form's)."""
        if self.token is None:
            return True
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def session_valid(self, request: web.Request) -> bool:
        """The request carries a valid status-page session cookie."""
        return self.sessions is not None and self.sessions.valid(request.cookies.get(COOKIE_NAME))


def normalize_origin(origin: str) -> str:
    """Lower-case an origin and drop a trailing slash (`Origin` never has a path)."""
    return origin.strip().rstrip("/").lower()


def _host_name(value: str) -> str:
    """Host part of a Host header or address: lower case, no port, no brackets, no final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:  # name:port; several colons = bare IPv6 literal
        value = value.partition(":")[0]
    return value.rstrip(".")


def _is_unspecified(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def _refuse(exc: GuardRefusalError, path: str) -> web.Response:
    # Anthropic clients parse their own error shape; everyone else gets OpenAI's.
    body = exc.to_anthropic_json() if wants_anthropic_errors(path) else exc.to_json()
    response = web.json_response(body, status=exc.status, headers=exc.headers())
    if exc.close_connection:
        response.force_close()
    return response


def _cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
    }


def _allowed_request_headers(requested: str) -> str:
    names = [h.strip().lower() for h in requested.split(",") if h.strip()]
    kept = [n for n in names if n in _CORS_HEADER_NAMES or n.startswith(_CORS_HEADER_PREFIXES)]
    return ", ".join(kept or ["authorization", "content-type"])


def _preflight(request: web.Request, origin: str) -> web.Response:
    headers = _cors_headers(origin)
    headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
    headers["Access-Control-Allow-Headers"] = _allowed_request_headers(
        request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "")
    )
    headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    # Chrome's Private Network Access preflight (public page → loopback): allowed origins only.
    if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        headers["Access-Control-Allow-Private-Network"] = "true"
    return web.Response(status=204, headers=headers)


async def apply_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: CORS headers on responses to allowed cross origins.

    Needed for streamed responses, whose headers are sent before the middleware sees them
    (`install`); a handler that prepares its own responses can call `add_cors_headers`
    instead and spare every response the signal.
    """
    add_cors_headers(request, response)


def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Put the CORS headers on `response` when `request` came from an allowed cross origin."""
    origin = request.get(CORS_ORIGIN_KEY)
    if origin is not None:
        response.headers.update(_cors_headers(origin))


def is_form_media_type(content_type: str) -> bool:
    """`application/x-www-form-urlencoded` (what an HTML form posts), parameters ignored."""
    return content_type.partition(";")[0].strip().lower() == FORM_MEDIA_TYPE


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or any `application/*+json`, parameters ignored."""
    mime = content_type.partition(";")[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


_HOST_CACHE_SIZE: Final = 64


ErrorMapper = Callable[[web.Request, Exception], "web.StreamResponse | None"]
"""Turns an exception raised by a handler into the answer for it (None: not mine, re-raise)."""
RequestObserver = Callable[[web.Request, int, float], None]
"""Learns each finished request: (request, status, seconds); 499 = the client went away."""
Challenge = Callable[[web.Request], "web.StreamResponse | None"]
"""The answer to a browser asking for `/` without the token (the login page), or None."""


def _guard_middleware(
    policy: GuardPolicy,
    errors: ErrorMapper | None = None,
    observe: RequestObserver | None = None,
    drain: Drain | None = None,
    challenge: Challenge | None = None,
) -> Middleware:
    """All five guards as one middleware: the checks run as plain code, in the order of the
    module docstring, instead of five middleware layers (each layer is a coroutine per
    request, and every wake-up of a streamed answer resumes each one; docs/performance.md).
    `errors` and `observe` fold the error mapping and the request metrics into the same
    layer for the same reason."""
    # Host header value → allowed; the few distinct values a proxy sees are cached (bounded).
    hosts: dict[str, bool] = {}
    # A plain counter is enough: the event loop is single-threaded and nothing awaits between
    # the check and the increment. It lives in the `Drain`, which shutdown waits on.
    load = drain if drain is not None else Drain()

    async def call(request: web.Request, handler: Handler) -> web.StreamResponse:
        # The handler, with its exceptions mapped to answers by `errors` (when given).
        try:
            return await handler(request)
        except Exception as exc:
            mapped = errors(request, exc) if errors is not None else None
            if mapped is None:
                raise
            return mapped

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if observe is None:
            return await checked(request, handler)
        started = time.perf_counter()
        status = 500
        try:
            response = await checked(request, handler)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the local client went away (nginx's convention)
            raise
        finally:
            observe(request, status, time.perf_counter() - started)

    async def checked(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = request.headers
        # 1. Host allowlist (DNS rebinding).
        host = headers.get(hdrs.HOST)
        allowed = hosts.get(host) if host is not None else False
        if allowed is None:
            assert host is not None
            allowed = policy.host_allowed(host)
            if len(hosts) < _HOST_CACHE_SIZE:
                hosts[host] = allowed
        if not allowed:
            return _refuse(
                HostNotAllowedError(
                    "Host not allowed; add it with --allowed-host if this proxy is reached "
                    "under another name"
                ),
                request.path,
            )
        # 2. Origin: browser requests only from the same origin or an allowed one.
        method = request.method
        path = request.path
        page_form = path in SAME_ORIGIN_PATHS
        cors_origin = None
        same_origin = False
        origin = headers.get(hdrs.ORIGIN)
        if origin is not None:  # else not a browser cross-origin context
            normalized = normalize_origin(origin)
            # Same origin (a page served by this proxy) needs no CORS decision.
            same_origin = normalized == f"http://{(host or '').strip().lower()}"
            if not same_origin:
                if page_form or normalized not in policy.allowed_origins:
                    return _refuse(
                        OriginNotAllowedError(
                            "Cross-origin request refused; allow the origin with --allowed-origin"
                        ),
                        request.path,
                    )
                if method == hdrs.METH_OPTIONS and hdrs.ACCESS_CONTROL_REQUEST_METHOD in headers:
                    return _preflight(request, origin)
                request[CORS_ORIGIN_KEY] = cors_origin = origin
        if page_form and headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            # A browser says the request comes from another site (or a navigation the user
            # did not make on this page): the page's forms answer only the page.
            return _refuse(
                OriginNotAllowedError("The status page accepts only its own forms"), path
            )
        # 3. Local token (probes and preflights exempt); the page's session cookie on its
        # own routes (same-origin POSTs only); the login form's POST (its handler checks).
        refusal: GuardRefusalError | None = None
        if policy.token is not None and not (
            method == hdrs.METH_OPTIONS
            or (method in (hdrs.METH_GET, hdrs.METH_HEAD) and path in TOKEN_EXEMPT_PATHS)
        ):
            if not (
                policy.token_matches(headers.get(hdrs.AUTHORIZATION), headers.get(X_API_KEY))
                or (
                    (method, path) in SESSION_ROUTES
                    and (same_origin or method in (hdrs.METH_GET, hdrs.METH_HEAD))
                    # Another port of the same host is the same *site*: SameSite=Strict still
                    # sends the cookie with its requests. The browser's Sec-Fetch-Site tells.
                    and headers.get("Sec-Fetch-Site", "none") in _OWN_FETCH_SITES
                    and policy.session_valid(request)
                )
                or (method == hdrs.METH_POST and path == LOGIN_PATH and same_origin)
            ):
                if challenge is not None and path in _CHALLENGE_PATHS and method in _PAGE_METHODS:
                    page = challenge(request)
                    if page is not None:
                        return page
                refusal = TokenRequiredError(
                    "Missing or wrong local token: send 'Authorization: Bearer <token>' or "
                    "'x-api-key: <token>' (the token is in PRIVPROXY_TOKEN or the state "
                    "directory's 'token' file)"
                )
        # 4. Content type: bodies must be declared JSON (the page's forms: same-origin only).
        if refusal is None and method not in _BODYLESS_METHODS:
            content_type = headers.get(hdrs.CONTENT_TYPE, "")
            if not is_json_media_type(content_type) and not (
                page_form and same_origin and is_form_media_type(content_type)
            ):
                refusal = UnsupportedMediaTypeError(
                    "Request body must be JSON (Content-Type: application/json)"
                )
        # 5. Load: declared body size, then concurrency (probes answer even when saturated).
        if refusal is None:
            declared = request.content_length
            if declared is not None and declared > policy.max_body_bytes:
                refusal = PayloadTooLargeError(
                    f"Request body larger than {policy.max_body_bytes} bytes"
                )
        response: web.StreamResponse
        if refusal is not None:
            response = _refuse(refusal, path)
        elif path in TOKEN_EXEMPT_PATHS:
            response = await call(request, handler)
        elif load.in_flight >= policy.max_concurrent_requests:
            response = _refuse(
                TooManyRequestsError("Too many concurrent requests; retry shortly"), path
            )
        else:
            load.in_flight += 1
            try:
                response = await call(request, handler)
            finally:
                load.in_flight -= 1
            if response.status in _CLOSE_AFTER and not response.prepared:
                # The body was not (fully) read: the connection cannot carry another request.
                response.force_close()
        if cors_origin is not None and not response.prepared:
            # Streamed responses got them when they were prepared (`add_cors_headers`).
            response.headers.update(_cors_headers(cors_origin))
        return response

    return guard


def build_middlewares(
    settings: Settings,
    *,
    errors: ErrorMapper | None = None,
    observe: RequestObserver | None = None,
    drain: Drain | None = None,
    policy: GuardPolicy | None = None,
    challenge: Challenge | None = None,
) -> list[Middleware]:
    """The guard middleware for the local endpoint (one, running the checks of the module
    docstring in order), as a list for `web.Application(middlewares=...)`. With `errors`,
    exceptions from handlers are mapped to answers inside it; with `observe`, every request
    (refusals included) is reported when it ends. With `drain`, requests in flight are counted
    there (shutdown waits for them). `policy` (default: resolved from `settings`) is passed
    when handlers need it too (`GUARD_POLICY_KEY`); `challenge` answers a browser that asks
    for `/` without the token (the login page).

    Raises `privproxy.server.config.ConfigError` when the token configuration is unusable.
    """
    if policy is None:
        policy = GuardPolicy.from_settings(settings)
    return [_guard_middleware(policy, errors, observe, drain, challenge)]


MAX_REQUEST_LINE: Final = 8190
# A request head is at most ~32 x 8 KiB: a connection trickling one cannot hold megabytes.
MAX_HEADER_FIELD: Final = 8190
MAX_HEADERS: Final = 32
MAX_LINGER: Final = 2.0


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `web.Application(...)` that bound what aiohttp reads itself.

    `client_max_size` caps bodies (aiohttp answers 413 past it, chunked bodies included).
    `keepalive_timeout` doubles as the header deadline: aiohttp arms it when a connection opens
    and only re-arms it after a response, so a client trickling its request line or headers
    (slowloris) is cut after `client_read_timeout`, as is an idle keep-alive connection.
    `lingering_time` bounds how long an unread body is drained after an early answer.
    """
    return {
        "client_max_size": settings.max_body_bytes,
        "handler_args": {
            "keepalive_timeout": settings.client_read_timeout,
            "max_line_size": MAX_REQUEST_LINE,
            "max_field_size": MAX_HEADER_FIELD,
            "max_headers": MAX_HEADERS,
            # After an early refusal (413, 408, 403 with a body) aiohttp drains the unread body
            # before closing; bound that too, so a trickling sender cannot hold the connection.
            "lingering_time": min(settings.client_read_timeout, MAX_LINGER),
        },
    }


GUARD_POLICY_KEY: Final = web.AppKey("privproxy.guard_policy", GuardPolicy)
"""The policy the guards enforce, for the handlers that need it (login, key setup)."""


def install(app: web.Application) -> None:
    """Register the `on_response_prepare` hook that puts CORS headers on streamed responses."""
    app.on_response_prepare.append(apply_cors_headers)


__all__ = [
    "CORS_ORIGIN_KEY",
    "FORM_MEDIA_TYPE",
    "GUARD_POLICY_KEY",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "LOOPBACK_NAMES",
    "SAME_ORIGIN_PATHS",
    "SESSION_ROUTES",
    "SETUP_API_KEY_PATH",
    "TOKEN_EXEMPT_PATHS",
    "Challenge",
    "ErrorMapper",
    "GuardPolicy",
    "GuardRefusalError",
    "HostNotAllowedError",
    "OriginNotAllowedError",
    "PayloadTooLargeError",
    "RequestObserver",
    "TokenRequiredError",
    "TooManyRequestsError",
    "UnsupportedMediaTypeError",
    "add_cors_headers",
    "apply_cors_headers",
    "build_middlewares",
    "install",
    "is_form_media_type",
    "is_json_media_type",
    "normalize_origin",
    "server_options",
]
