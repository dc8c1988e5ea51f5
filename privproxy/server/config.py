"""Settings: one frozen pydantic model built from the environment and the command line.

Precedence is flag > environment > `--config` file > default. Environment names follow the
Node proxy (`PPQ_API_KEY`, `PORT`, `PPQ_API_BASE`, `DEBUG`; docs/protocol.md §4.1) plus
`PRIVPROXY_*` for the new settings. Defaults fail closed: loopback bind, attestation
required, bounded sizes and waits. Nothing here touches the file system except reading
`--api-key-file` and `--config` on request; `state_dir`/`cache_dir` are only paths (never
created here).

`docs/configuration.md` lists every field; keep the two in step.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from privproxy.errors import ProxyError
from privproxy.server.model_alias import parse_aliases
from privproxy.server.router_options import ROUTER_OPTIONS
from privproxy.server.trust_flags import add_trust_flags, trust_values

DEFAULT_PORT = 8787
DEFAULT_API_BASE = "https://api.ppq.ai"
DEFAULT_UNSAFE_ENCLAVE_URL = "https://inference.tinfoil.sh"
DEFAULT_V3_ENCLAVE_URL = "https://inference.tinfoil.sh"  # the router; v3 is fetched from it
DEFAULT_V3_REPOSITORY = "tinfoilsh/confidential-model-router"  # code the router must run
MiB = 1024 * 1024


class ConfigError(ProxyError):
    """The configuration is unusable (bad flag value, unsafe key on a public address...)."""

    error_type = "configuration_error"
    code = "configuration_error"


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Printable ASCII (and space inside), what a request header value may hold.
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")  # one word: a credential
# A URL path the gateway client can put on its request line (no query, no fragment).
_URL_PATH = re.compile(r"(?:/[\x21\x22\x24-\x3e\x40-\x7e]*)*")


def _check_gateway_url(value: str, name: str) -> None:
    """Raise `ValueError` unless `value` is a URL the gateway client can use as its origin:
    ASCII, a host, a valid port, no credentials, query or fragment."""
    if not value.isascii():
        raise ValueError(f"{name} must be ASCII (write an international name in its xn-- form)")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise ValueError(f"{name} has no host")
    if port == 0:
        raise ValueError(f"{name} has port 0")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{name} must not contain credentials")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"{name} must not have a query or fragment")
    if _URL_PATH.fullmatch(parts.path) is None:
        raise ValueError(f"{name} has characters its path cannot carry")


_XDG_FALLBACK = {"XDG_STATE_HOME": ".local/state", "XDG_CACHE_HOME": ".cache"}


def _default_dir(environ: Mapping[str, str], xdg: str) -> Path:
    """XDG base directory + `privproxy`; computed only, never created."""
    base = environ.get(xdg)
    if base:
        return Path(base) / "privproxy"
    return Path(environ.get("HOME") or Path.home()) / _XDG_FALLBACK[xdg] / "privproxy"


class Settings(BaseModel):
    """Every knob of the proxy. Frozen; secrets are `SecretStr` and redacted in `repr`."""

    # Inputs stay out of validation messages: they may be the PPQ key or the local token.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    api_base: str = DEFAULT_API_BASE
    api_key: SecretStr | None = None
    debug: bool = False

    # --unsafe-hpke-key: skips attestation (tests, benchmarks). Never printed.
    unsafe_hpke_key: bytes | None = Field(None, repr=False)
    unsafe_enclave_url: str = DEFAULT_UNSAFE_ENCLAVE_URL

    state_dir: Path = Field(default_factory=lambda: _default_dir(os.environ, "XDG_STATE_HOME"))
    cache_dir: Path = Field(default_factory=lambda: _default_dir(os.environ, "XDG_CACHE_HOME"))
    amd_cert_chain: tuple[Path, ...] = ()
    # Trust beyond the shipped defaults (see add_trust_flags): TDX modules an operator accepts
    # in addition to the shipped policy table, and an updated Sigstore trusted_root.json.
    tdx_mr_seam_allow: tuple[bytes, ...] = ()
    sigstore_trust_root: Path | None = None
    reattest_interval: float = Field(3600.0, gt=0)
    attestation_max_age: float = Field(86400.0, gt=0)

    require_token: bool | None = None  # None = automatic (decided by privproxy.server.guards)
    token: SecretStr | None = None
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()

    max_body_bytes: int = Field(32 * MiB, gt=0)
    max_concurrent_requests: int = Field(512, gt=0)
    client_read_timeout: float = Field(30.0, gt=0)
    upstream_connect_timeout: float = Field(10.0, gt=0)
    upstream_first_byte_timeout: float = Field(300.0, gt=0)
    upstream_idle_timeout: float = Field(300.0, gt=0)
    shutdown_timeout: float = Field(30.0, ge=0)
    catalog_ttl: float = Field(600.0, gt=0)
    simulated: bool = False  # set by `privproxy demo`: answers come from a local simulator

    # Gateway hop safety: plain http to a non-loopback gateway sends the PPQ key in clear.
    allow_insecure_api_base: bool = False
    # Resource bounds (docs/security.md, "Resource bounds").
    max_connections: int = Field(400, gt=0)
    client_write_timeout: float = Field(60.0, gt=0)
    upstream_max_stream_seconds: float = Field(3600.0, gt=0)
    max_response_frame_bytes: int = Field(64 * MiB, ge=1024, le=64 * MiB)
    frame_budget_bytes: int = Field(256 * MiB, gt=0)

    # Model aliases (`--model-alias NAME=private/ID`, PRIVPROXY_MODEL_ALIASES): model names
    # clients send that map to a private model (privproxy.server.model_alias).
    model_aliases: tuple[tuple[str, str], ...] = ()
    # Responses API: an in-memory store for `previous_response_id` (0 = off: nothing kept).
    responses_store_seconds: float = Field(0.0, ge=0, le=7 * 86400)
    responses_store_max_entries: int = Field(1000, gt=0)
    responses_store_max_bytes: int = Field(64 * MiB, gt=0)
    # Attestation format: "v2" verifies the bundle the gateway relays (default); "v3" a
    # nonce-bound document fetched from `v3_enclave_url`; "auto" v3, and the v2 bundle only
    # when that enclave has no v3 endpoint (HTTP 404), never after a v3 rejection.
    attestation: Literal["v2", "v3", "auto"] = "v2"
    v3_enclave_url: str = DEFAULT_V3_ENCLAVE_URL
    v3_repository: str = DEFAULT_V3_REPOSITORY

    # Operations: log format, router-side options allowed through (privproxy.server.router_options).
    log_format: Literal["text", "json"] = "text"
    allowed_router_options: tuple[str, ...] = ()

    @field_validator("allowed_router_options")
    @classmethod
    def _check_router_options(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - ROUTER_OPTIONS)
        if unknown:
            known = ", ".join(sorted(ROUTER_OPTIONS))
            raise ValueError(f"unknown router option {unknown[0]!r} (known: {known})")
        return tuple(sorted(set(value)))

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        # The Node proxy used the value verbatim, so a trailing slash gave `//private` (4.1).
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("api_base must be an http(s) URL")
        _check_gateway_url(value, "api_base")
        return value

    @field_validator("unsafe_enclave_url")
    @classmethod
    def _check_enclave_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")) or len(value.split("://", 1)[1]) == 0:
            raise ValueError("unsafe_enclave_url must be an http(s) URL")
        if _HEADER_SAFE.fullmatch(value) is None:  # sent as a request header
            raise ValueError("unsafe_enclave_url must be printable ASCII")
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        # Sent in a header on every request: a key the header cannot carry is a start-up
        # error, not a 500 per request. The message never repeats the value.
        if value is not None and _HEADER_TOKEN.fullmatch(value.get_secret_value()) is None:
            raise ValueError(
                "the PPQ API key must be 1-512 printable ASCII characters without spaces "
                "(check for a stray character or a wrong file)"
            )
        return value

    @model_validator(mode="after")
    def _insecure_api_base(self) -> Settings:
        host = urlsplit(self.api_base).hostname or ""
        if (
            self.api_base.startswith("http://")
            and not is_loopback_host(host)
            and not self.allow_insecure_api_base
        ):
            raise ValueError(
                f"api_base {self.api_base!r} is plain http to a non-loopback host: the PPQ key "
                "would travel in clear; use https:// or pass --allow-insecure-api-base"
            )
        return self

    @field_validator("v3_enclave_url")
    @classmethod
    def _check_v3_enclave_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        host = urlsplit(value).hostname or ""
        local_http = value.startswith("http://") and is_loopback_host(host)
        if not host or not (value.startswith("https://") or local_http):
            raise ValueError("v3_enclave_url must be https (http only to loopback)")
        return value

    @field_validator("tdx_mr_seam_allow")
    @classmethod
    def _check_mr_seams(cls, value: tuple[bytes, ...]) -> tuple[bytes, ...]:
        if any(len(v) != 48 for v in value):
            raise ValueError("a TDX MR_SEAM is 48 bytes (96 hex characters)")
        return value

    @field_validator("unsafe_hpke_key")
    @classmethod
    def _check_unsafe_key(cls, value: bytes | None) -> bytes | None:
        if value is not None and len(value) != 32:
            raise ValueError("unsafe HPKE key must be 32 bytes (64 hex characters)")
        return value

    @model_validator(mode="after")
    def _unsafe_needs_loopback(self) -> Settings:
        # An unattested key must never serve anyone but this machine.
        if self.unsafe_hpke_key is not None and not is_loopback_host(self.host):
            raise ValueError(
                f"--unsafe-hpke-key refuses to bind the non-loopback address {self.host!r}"
            )
        return self

    @property
    def unsafe(self) -> bool:
        """True when attestation is skipped (`--unsafe-hpke-key`)."""
        return self.unsafe_hpke_key is not None

    @classmethod
    def from_env_and_args(
        cls, environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None
    ) -> Settings:
        """Build settings from `environ` (default `os.environ`) and serve flags `argv`.

        Raises `ConfigError` for invalid values; argparse exits with code 2 on unknown flags.
        """
        env = os.environ if environ is None else environ
        args = build_parser().parse_args(list(argv or []))
        return cls.from_namespace(env, args)

    @classmethod
    def from_namespace(cls, environ: Mapping[str, str], args: argparse.Namespace) -> Settings:
        """Merge parsed flags over `environ` over the `--config` file (or `PRIVPROXY_CONFIG`)
        over the defaults; see `from_env_and_args`."""
        values: dict[str, Any] = _default_dirs(environ)
        config = getattr(args, "config", None) or environ.get("PRIVPROXY_CONFIG", "").strip()
        if config:
            from privproxy.server.config_file import load_config_file

            values.update(_from_flags(load_config_file(Path(config), build_parser())))
        values.update(_from_env(environ))
        values.update(_from_flags(args))
        try:
            return cls(**values)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise ConfigError(_short_validation_message(exc)) from exc


def _from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the parsed flags `args` set (flags left out are absent)."""
    values: dict[str, Any] = {}
    for name, value in vars(args).items():
        if name in _FLAG_FIELDS and value is not None:
            values[name] = value
    if args.debug:
        values["debug"] = True
    if args.unsafe_hpke_key is not None:
        values["unsafe_hpke_key"] = _hex_key(args.unsafe_hpke_key)
    if args.api_key_file is not None:
        values["api_key"] = _read_key_file(args.api_key_file)
    if args.amd_cert_chain:
        values["amd_cert_chain"] = tuple(Path(p) for p in args.amd_cert_chain)
    try:
        values.update(trust_values(args))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if args.allowed_origin:
        values["allowed_origins"] = tuple(args.allowed_origin)
    if args.allowed_host:
        values["allowed_hosts"] = tuple(args.allowed_host)
    if getattr(args, "model_alias", None):
        values["model_aliases"] = _aliases(args.model_alias)
    if getattr(args, "allow_router_option", None):
        values["allowed_router_options"] = tuple(args.allow_router_option)
    return values


# Flags whose argparse dest equals the Settings field and which need no conversion.
_FLAG_FIELDS = frozenset(
    {
        "host",
        "port",
        "api_base",
        "unsafe_enclave_url",
        "state_dir",
        "cache_dir",
        "reattest_interval",
        "attestation_max_age",
        "require_token",
        "max_body_bytes",
        "max_concurrent_requests",
        "client_read_timeout",
        "upstream_connect_timeout",
        "upstream_first_byte_timeout",
        "upstream_idle_timeout",
        "shutdown_timeout",
        "catalog_ttl",
        "allow_insecure_api_base",
        # Resource bounds.
        "max_connections",
        "client_write_timeout",
        "upstream_max_stream_seconds",
        "max_response_frame_bytes",
        "frame_budget_bytes",
        "responses_store_seconds",
        "responses_store_max_entries",
        "responses_store_max_bytes",
        "log_format",
        "attestation",
        "v3_enclave_url",
    }
)


def _default_dirs(environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "state_dir": _default_dir(environ, "XDG_STATE_HOME"),
        "cache_dir": _default_dir(environ, "XDG_CACHE_HOME"),
    }


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment sets (variables left unset are absent)."""
    values: dict[str, Any] = {}
    port = environ.get("PORT", "").strip()
    # Node: parseInt, a non-number falls back to 8787 (docs/protocol.md §4.1).
    if port.isdigit() and int(port) <= 65535:
        values["port"] = int(port)
    if environ.get("PPQ_API_BASE", "").strip():
        values["api_base"] = environ["PPQ_API_BASE"]
    if environ.get("PPQ_API_KEY", "").strip():
        values["api_key"] = SecretStr(environ["PPQ_API_KEY"].strip())
    if "DEBUG" in environ:  # Node: only the exact string "true" turns it on
        values["debug"] = environ["DEBUG"] == "true"
    if environ.get("PRIVPROXY_UNSAFE_HPKE_KEY", "").strip():
        values["unsafe_hpke_key"] = _hex_key(environ["PRIVPROXY_UNSAFE_HPKE_KEY"])
    if environ.get("PRIVPROXY_UNSAFE_ENCLAVE_URL", "").strip():
        values["unsafe_enclave_url"] = environ["PRIVPROXY_UNSAFE_ENCLAVE_URL"]
    if environ.get("PRIVPROXY_STATE_DIR"):
        values["state_dir"] = Path(environ["PRIVPROXY_STATE_DIR"])
    if environ.get("PRIVPROXY_CACHE_DIR"):
        values["cache_dir"] = Path(environ["PRIVPROXY_CACHE_DIR"])
    if environ.get("PRIVPROXY_AMD_CERT_CHAIN"):
        parts = environ["PRIVPROXY_AMD_CERT_CHAIN"].split(os.pathsep)
        values["amd_cert_chain"] = tuple(Path(p) for p in parts if p)
    if environ.get("PRIVPROXY_TOKEN", "").strip():
        values["token"] = SecretStr(environ["PRIVPROXY_TOKEN"].strip())
    if environ.get("PRIVPROXY_MODEL_ALIASES", "").strip():
        values["model_aliases"] = _aliases(environ["PRIVPROXY_MODEL_ALIASES"].split(","))
    # `--attestation`/`--v3-enclave-url` (plain flags, in _FLAG_FIELDS) over these.
    for field, env in (
        ("attestation", "PRIVPROXY_ATTESTATION"),
        ("v3_enclave_url", "PRIVPROXY_V3_ENCLAVE_URL"),
    ):
        if environ.get(env, "").strip():
            values[field] = environ[env].strip()
    if environ.get("PRIVPROXY_LOG_FORMAT", "").strip():
        values["log_format"] = environ["PRIVPROXY_LOG_FORMAT"].strip()
    if environ.get("PRIVPROXY_ALLOW_ROUTER_OPTIONS", "").strip():
        parts = environ["PRIVPROXY_ALLOW_ROUTER_OPTIONS"].split(",")
        values["allowed_router_options"] = tuple(p.strip() for p in parts if p.strip())
    return values


def _aliases(specs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Parse `NAME=private/ID` specs (flags replace the environment's list, as elsewhere)."""
    try:
        return parse_aliases(",".join(specs))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _hex_key(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ConfigError("unsafe HPKE key must be hex") from exc


def _read_key_file(path: str) -> SecretStr | None:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read --api-key-file {path}: {exc.strerror}") from exc
    return SecretStr(text) if text else None


def _short_validation_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors():
            loc = ".".join(str(x) for x in err.get("loc", ())) or "settings"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return "invalid configuration: " + "; ".join(parts)
    return f"invalid configuration: {exc}"


def build_parser(prog: str = "privproxy") -> argparse.ArgumentParser:
    """The serve flags (shared by `privproxy`, `privproxy serve` and the tests)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Local OpenAI-compatible proxy for PayPerQ private/* models: verifies the enclave, "
            "encrypts every request with EHBP. Subcommands: serve (default), verify, demo, "
            "openclaw-config."
        ),
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (env PORT, default 8787; 0 = any)")
    p.add_argument("--api-base", help="PPQ gateway base URL (env PPQ_API_BASE)")
    p.add_argument("--api-key-file", help="read the PPQ API key from this file")
    p.add_argument("--debug", action="store_true", help="debug logs (metadata only)")
    p.add_argument("--unsafe-hpke-key", metavar="HEX", help="UNSAFE: skip attestation")
    p.add_argument("--unsafe-enclave-url", metavar="URL", help="enclave URL with --unsafe-*")
    p.add_argument("--state-dir", type=Path, help="state directory (env PRIVPROXY_STATE_DIR)")
    p.add_argument("--cache-dir", type=Path, help="cache directory (env PRIVPROXY_CACHE_DIR)")
    p.add_argument("--amd-cert-chain", action="append", metavar="PATH", help="repeatable")
    p.add_argument("--reattest-interval", type=float, metavar="SECONDS")
    p.add_argument("--attestation-max-age", type=float, metavar="SECONDS")
    p.add_argument(
        "--require-token",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require the local token (default: automatic)",
    )
    p.add_argument("--allowed-origin", action="append", metavar="ORIGIN", help="repeatable")
    p.add_argument("--allowed-host", action="append", metavar="HOST", help="repeatable")
    p.add_argument("--max-body-bytes", type=int, metavar="N")
    p.add_argument("--max-concurrent-requests", type=int, metavar="N")
    p.add_argument("--client-read-timeout", type=float, metavar="SECONDS")
    p.add_argument("--upstream-connect-timeout", type=float, metavar="SECONDS")
    p.add_argument("--upstream-first-byte-timeout", type=float, metavar="SECONDS")
    p.add_argument("--upstream-idle-timeout", type=float, metavar="SECONDS")
    p.add_argument("--shutdown-timeout", type=float, metavar="SECONDS")
    p.add_argument("--catalog-ttl", type=float, metavar="SECONDS")
    # Resource bounds (docs/security.md).
    p.add_argument("--max-connections", type=int, metavar="N", help="open client connections")
    p.add_argument("--client-write-timeout", type=float, metavar="SECONDS")
    p.add_argument("--upstream-max-stream-seconds", type=float, metavar="SECONDS")
    p.add_argument("--max-response-frame-bytes", type=int, metavar="N")
    p.add_argument("--frame-budget-bytes", type=int, metavar="N")
    p.add_argument(
        "--allow-insecure-api-base",
        action="store_true",
        default=None,
        help="allow an http:// --api-base on a non-loopback host (the PPQ key travels in clear)",
    )
    p.add_argument(
        "--model-alias",
        action="append",
        metavar="NAME=private/ID",
        help="serve model NAME (a trailing * matches a prefix) with a private model; "
        "repeatable (env PRIVPROXY_MODEL_ALIASES, comma-separated)",
    )
    # Responses API store (off by default: no conversation is kept).
    p.add_argument(
        "--responses-store-seconds",
        type=float,
        metavar="SECONDS",
        help="keep Responses answers in memory this long for previous_response_id (default 0)",
    )
    p.add_argument("--responses-store-max-entries", type=int, metavar="N")
    p.add_argument("--responses-store-max-bytes", type=int, metavar="N")
    add_trust_flags(p)
    p.add_argument(
        "--attestation",
        choices=("v2", "v3", "auto"),
        help="attestation format (env PRIVPROXY_ATTESTATION, default v2)",
    )
    p.add_argument("--v3-enclave-url", metavar="URL", help="where v3 documents are fetched")
    # Operations: configuration file, log format, router-side options.
    p.add_argument("--config", metavar="FILE", help="TOML settings file (env PRIVPROXY_CONFIG)")
    p.add_argument(
        "--log-format", choices=("text", "json"), help="log lines (env PRIVPROXY_LOG_FORMAT)"
    )
    p.add_argument(
        "--allow-router-option",
        action="append",
        choices=sorted(ROUTER_OPTIONS),
        metavar="NAME",
        help="let requests use this router-side option (repeatable; default: all refused)",
    )
    return p


__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_PORT",
    "ConfigError",
    "Settings",
    "build_parser",
    "is_loopback_host",
]
