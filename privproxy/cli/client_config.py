"""`privproxy client-config openclaw|codex|claude`: each tool's configuration for this proxy.

* `openclaw`: an OpenClaw custom provider (`privproxy.cli.openclaw`), printed or merged into
  `openclaw.json` with `--write`. `privproxy openclaw-config` is the same command.
* `codex`: a Codex `config.toml` with a `[model_providers.privproxy]` block that speaks the
  Responses API (`wire_api = "responses"`, the only wire Codex has) and the settings that keep
  Codex from reaching other services at start (plugins, analytics, feedback, telemetry).
* `claude`: Claude Code's environment variables: the proxy as `ANTHROPIC_BASE_URL`, the
  private model for every tier Claude Code uses (main, Opus/Sonnet/Haiku defaults, the small
  fast model and subagents: otherwise some requests name Claude models, which the proxy
  refuses), and the switches that stop its non-essential traffic.

The model list comes from the live catalog: the running proxy's `/v1/models` with
`--proxy-url`, else the PPQ gateway's catalog, falling back to the built-in table when the
gateway cannot be reached (`--offline` skips the fetch). A new private model therefore
appears without a new release. Secrets are never printed: keys are referenced by the name of
the environment variable that holds them (`--key-env`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from privproxy.cli.openclaw import (
    DEFAULT_API_KEY,
    DEFAULT_PROVIDER_ID,
    ConfigFileError,
    provider_entry,
    write_merged,
)
from privproxy.errors import ProxyError
from privproxy.gateway.catalog import (
    DEFAULT_MODEL,
    MODELS,
    Catalog,
    ModelInfo,
    catalog_entries,
    model_info,
    model_info_from_entry,
)
from privproxy.server.config import DEFAULT_PORT, ConfigError, Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
TOOLS: Final = ("openclaw", "codex", "claude")
DEFAULT_KEY_ENV: Final = "PPQ_API_KEY"

# Claude Code reads these to pick a model for each of its roles.
CLAUDE_MODEL_VARS: Final = (
    "ANTHROPIC_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "CLAUDE_CODE_SUBAGENT_MODEL",
)
CLAUDE_QUIET_VARS: Final = (
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_TELEMETRY",
    "DISABLE_AUTOUPDATER",
    "DISABLE_ERROR_REPORTING",
)


# Both end up in generated files (a TOML table name, a shell expansion): plain names only.
_PROVIDER_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class CatalogUnavailableError(Exception):
    """The proxy named by `--proxy-url` did not list its models."""


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _fetch_ids(
    base_url: str, environ: dict[str, str], token: str | None
) -> list[Mapping[str, Any]]:
    """Model entries from `{base_url}/v1/models` with the gateway client (bounded waits)."""
    from privproxy.gateway.forward import fetch_catalog
    from privproxy.gateway.h1.pool import Pool

    settings = Settings.from_env_and_args({**environ, "PPQ_API_BASE": base_url}, [])
    headers = [("User-Agent", "privproxy-client-config")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    pool = Pool(
        settings.api_base,
        limit=1,
        connect_timeout=settings.upstream_connect_timeout,
        default_headers=headers,
    )
    try:
        return await fetch_catalog(pool, settings)
    finally:
        await pool.close()


async def _live_models(
    base_url: str, environ: dict[str, str], token: str | None
) -> tuple[ModelInfo, ...] | None:
    """The private models a catalog lists (None: the fetch failed or listed none). The same
    filtering as the proxy's own catalog (`privproxy.gateway.catalog.Catalog`)."""

    async def fetch() -> list[Mapping[str, Any]]:
        return await _fetch_ids(base_url, environ, token)

    catalog = Catalog(fetch, ttl=60.0)
    try:
        view = await catalog.refresh()
    finally:
        await catalog.close()
    return tuple(model_info_from_entry(e) for e in catalog_entries(view)) if view.known else None


def models_for(args: argparse.Namespace, environ: dict[str, str]) -> tuple[ModelInfo, ...]:
    """The model list: `--proxy-url`'s, else the gateway's, else the built-in table."""
    if args.offline:
        return MODELS
    token = environ.get(args.token_env) if args.token_env else None
    if args.proxy_url:
        found = asyncio.run(_live_models(args.proxy_url.rstrip("/"), environ, token))
        if found is None:
            raise CatalogUnavailableError(f"no model list from {args.proxy_url}/v1/models")
        return found
    try:
        base = Settings.from_env_and_args(environ, []).api_base
    except ConfigError as exc:
        raise CatalogUnavailableError(exc.message) from exc
    found = asyncio.run(_live_models(args.api_base or base, environ, None))
    if found is None:
        print(
            "note: the PPQ model catalog was unreachable; using the built-in list", file=sys.stderr
        )
        return MODELS
    return found


def _default_model(models: Sequence[ModelInfo], wanted: str | None) -> str:
    if wanted:
        return wanted
    ids = [m.id for m in models]
    return DEFAULT_MODEL if DEFAULT_MODEL in ids or not ids else ids[0]


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def codex_config(
    *, base_url: str, key_env: str, model: str, models: Sequence[ModelInfo], provider_id: str
) -> str:
    """`config.toml` for Codex (`$CODEX_HOME/config.toml`, default `~/.codex`)."""
    info = next((m for m in models if m.id == model), model_info(model))
    listed = "\n".join(f"#   {m.id:<28} {m.context_window:>7} tokens context" for m in models)
    return f"""# Codex → privproxy (PPQ private models, sealed to an attested enclave)
model = {_toml_string(model)}
model_provider = {_toml_string(provider_id)}
model_context_window = {info.context_window}
model_max_output_tokens = {info.max_tokens}
check_for_update_on_startup = false

[model_providers.{provider_id}]
name = "privproxy (PPQ private models)"
base_url = {_toml_string(base_url + "/v1")}
env_key = {_toml_string(key_env)}
wire_api = "responses"

# Keep Codex from reaching other services at start-up.
[features]
plugins = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"

# Private models (set `model` above, or `codex -m <id>`):
{listed}
"""


def claude_env(*, base_url: str, key_env: str, model: str, models: Sequence[ModelInfo]) -> str:
    """Shell `export` lines for Claude Code."""
    lines = [
        "# Claude Code → privproxy (PPQ private models, sealed to an attested enclave)",
        f"export ANTHROPIC_BASE_URL={shlex.quote(base_url)}",
        # Sent as `x-api-key`: the PPQ key when the proxy has none configured, the local
        # token when the proxy requires one, anything otherwise.
        f'export ANTHROPIC_API_KEY="${{{key_env}:-privproxy-local}}"',
    ]
    lines += [f"export {name}={shlex.quote(model)}" for name in CLAUDE_MODEL_VARS]
    lines += [f"export {name}=1" for name in CLAUDE_QUIET_VARS]
    lines.append("# Private models: " + ", ".join(m.id for m in models))
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """Flags of `privproxy client-config`."""
    parser = argparse.ArgumentParser(
        prog="privproxy client-config",
        description="Print the configuration that points OpenClaw, Codex or Claude Code at "
        "this proxy.",
    )
    parser.add_argument("tool", choices=TOOLS, help="the client to configure")
    parser.add_argument("--host", default="127.0.0.1", help="proxy address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="proxy port (default $PORT or 8787)")
    parser.add_argument("--model", help="the model the tool uses (default private/kimi-k3)")
    parser.add_argument(
        "--proxy-url", metavar="URL", help="list the models this running proxy serves"
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        default="PRIVPROXY_TOKEN",
        help="with --proxy-url: the variable holding the proxy's local token, if it needs one",
    )
    parser.add_argument("--api-base", metavar="URL", help="PPQ gateway for the catalog fetch")
    parser.add_argument(
        "--offline", action="store_true", help="use the built-in model table (no network)"
    )
    parser.add_argument(
        "--key-env",
        metavar="NAME",
        default=DEFAULT_KEY_ENV,
        help="codex/claude: the environment variable holding the key the tool sends "
        "(default PPQ_API_KEY; use PRIVPROXY_TOKEN when the proxy requires its token)",
    )
    openclaw = parser.add_argument_group("openclaw")
    openclaw.add_argument("--write", metavar="PATH", type=Path, help="merge into openclaw.json")
    openclaw.add_argument("--provider-id", default=DEFAULT_PROVIDER_ID, help="provider id")
    openclaw.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help="value OpenClaw sends as Bearer: the proxy's local token when it requires one",
    )
    return parser


def _port(value: int | None) -> int:
    if value is not None:
        return value
    env = os.environ.get("PORT", "").strip()
    return int(env) if env.isdigit() else DEFAULT_PORT


def _openclaw(args: argparse.Namespace, port: int, models: Sequence[ModelInfo]) -> int:
    provider = provider_entry(host=args.host, port=port, api_key=args.api_key, models=models)
    if args.write is None:
        print(json.dumps({"models": {"providers": {args.provider_id: provider}}}, indent=2))
    else:
        try:
            backup = write_merged(args.write, args.provider_id, provider)
        except (ConfigFileError, OSError) as exc:
            print(f"privproxy client-config: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        saved = f" (previous file saved as {backup})" if backup else ""
        print(f"Wrote provider {args.provider_id!r} to {args.write}{saved}", file=sys.stderr)
    model = _default_model(models, args.model)
    print(
        f"Model refs: {args.provider_id}/<id>, e.g. "
        f"`openclaw models set {args.provider_id}/{model}`",
        file=sys.stderr,
    )
    return EXIT_OK


def main(argv: list[str]) -> int:
    """Entry point (dispatched by `privproxy.cli.main`)."""
    args = build_parser().parse_args(argv)
    port = _port(args.port)
    if (
        not 0 < port < 65536
        or not _PROVIDER_ID.fullmatch(args.provider_id)
        or not _ENV_NAME.fullmatch(args.key_env)
    ):
        print(
            "privproxy client-config: invalid --port, --provider-id or --key-env", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        models = models_for(args, dict(os.environ))
    except (CatalogUnavailableError, ProxyError) as exc:
        print(f"privproxy client-config: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.tool == "openclaw":
        return _openclaw(args, port, models)
    base_url = f"http://{_host_port(args.host, port)}"
    model = _default_model(models, args.model)
    if args.tool == "codex":
        print(
            codex_config(
                base_url=base_url,
                key_env=args.key_env,
                model=model,
                models=models,
                provider_id=args.provider_id,
            ),
            end="",
        )
    else:
        print(
            claude_env(base_url=base_url, key_env=args.key_env, model=model, models=models), end=""
        )
    return EXIT_OK


__all__ = [
    "CLAUDE_MODEL_VARS",
    "TOOLS",
    "build_parser",
    "claude_env",
    "codex_config",
    "main",
    "models_for",
]
