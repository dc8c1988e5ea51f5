"""`privproxy openclaw-config`: an OpenClaw custom provider that points at this proxy.

OpenClaw only needs an OpenAI-compatible server (docs/protocol.md §6): a `models.providers.<id>`
entry with a `baseUrl` that **includes `/v1`** (the Node plugin registered
`http://127.0.0.1:<port>` without it, so OpenClaw's requests hit `/chat/completions` and got
404), a non-empty `apiKey`, `api: "openai-completions"`, and the model list with context
window, max tokens, reasoning, input types and cost (from `privproxy.gateway.catalog.MODELS`).

Without `--write` the provider snippet is printed. With `--write PATH` it is merged into an
existing `openclaw.json`: the file is first copied to `PATH.bak-<UTC timestamp>`, then
replaced atomically; other providers and settings are kept, and when
`agents.defaults.models` (an allowlist) exists the new model refs are added to it. A file that
is not plain JSON (OpenClaw also reads JSON5) is refused rather than rewritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from privproxy.gateway.catalog import DEFAULT_MODEL, MODELS, ModelInfo
from privproxy.server.config import DEFAULT_PORT

DEFAULT_PROVIDER_ID: Final = "privproxy"
DEFAULT_API_KEY: Final = "privproxy-local"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class ConfigFileError(Exception):
    """The existing OpenClaw config cannot be merged safely."""


def model_entry(model: ModelInfo) -> dict[str, Any]:
    """One OpenClaw `ModelDefinitionConfig` (costs in USD per million tokens)."""
    return {
        "id": model.id,
        "name": model.name,
        "reasoning": model.reasoning,
        "input": list(model.input),
        "cost": {
            "input": model.cost_input,
            "output": model.cost_output,
            "cacheRead": 0,
            "cacheWrite": 0,
        },
        "contextWindow": model.context_window,
        "maxTokens": model.max_tokens,
    }


def provider_entry(*, host: str, port: int, api_key: str) -> dict[str, Any]:
    """The `models.providers.<id>` value for a proxy on `host:port`."""
    shown = f"[{host}]" if ":" in host else host
    return {
        "baseUrl": f"http://{shown}:{port}/v1",
        "apiKey": api_key,
        "api": "openai-completions",
        "models": [model_entry(m) for m in MODELS],
    }


def model_refs(provider_id: str) -> list[str]:
    """OpenClaw model refs (`provider/model`) for every private model."""
    return [f"{provider_id}/{m.id}" for m in MODELS]


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.setdefault(key, {})
    if not isinstance(value, dict):
        raise ConfigFileError(f"{where}.{key} is not an object")
    return value


def merge_config(config: dict[str, Any], provider_id: str, provider: dict[str, Any]) -> None:
    """Add or replace `models.providers[provider_id]`; extend an existing model allowlist."""
    providers = _object(_object(config, "models", "config"), "providers", "models")
    providers[provider_id] = provider
    agents = config.get("agents")
    defaults = agents.get("defaults") if isinstance(agents, dict) else None
    allow = defaults.get("models") if isinstance(defaults, dict) else None
    if isinstance(allow, dict):
        for ref in model_refs(provider_id):
            allow.setdefault(ref, {})
    elif isinstance(allow, list):
        allow.extend(r for r in model_refs(provider_id) if r not in allow)


def write_merged(path: Path, provider_id: str, provider: dict[str, Any]) -> Path | None:
    """Merge into `path` (created if missing). Returns the backup path, if one was made."""
    backup: Path | None = None
    config: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigFileError(
                f"{path} is not plain JSON ({exc}); add the printed snippet by hand instead"
            ) from exc
        if not isinstance(loaded, dict):
            raise ConfigFileError(f"{path} does not hold a JSON object")
        config = loaded
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        shutil.copy2(path, backup)
    merge_config(config, provider_id, provider)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
            handle.write("\n")
        if backup is not None:
            shutil.copymode(backup, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return backup


def build_parser() -> argparse.ArgumentParser:
    """Flags of `privproxy openclaw-config`."""
    parser = argparse.ArgumentParser(
        prog="privproxy openclaw-config",
        description="Print, or merge into openclaw.json, an OpenClaw provider for this proxy.",
    )
    parser.add_argument("--write", metavar="PATH", type=Path, help="merge into this openclaw.json")
    parser.add_argument("--provider-id", default=DEFAULT_PROVIDER_ID, help="provider id")
    parser.add_argument("--host", default="127.0.0.1", help="proxy address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="proxy port (default $PORT or 8787)")
    parser.add_argument(
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


def main(argv: list[str]) -> int:
    """Entry point (dispatched by `privproxy.cli.main`)."""
    args = build_parser().parse_args(argv)
    port = _port(args.port)
    if not 0 < port < 65536 or not args.provider_id or "/" in args.provider_id:
        print("privproxy openclaw-config: invalid --port or --provider-id", file=sys.stderr)
        return EXIT_USAGE
    provider = provider_entry(host=args.host, port=port, api_key=args.api_key)
    if args.write is None:
        snippet = {"models": {"providers": {args.provider_id: provider}}}
        print(json.dumps(snippet, indent=2))
    else:
        try:
            backup = write_merged(args.write, args.provider_id, provider)
        except (ConfigFileError, OSError) as exc:
            print(f"privproxy openclaw-config: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        saved = f" (previous file saved as {backup})" if backup else ""
        print(f"Wrote provider {args.provider_id!r} to {args.write}{saved}", file=sys.stderr)
    print(
        f"Model refs: {args.provider_id}/<id>, e.g. "
        f"`openclaw models set {args.provider_id}/{DEFAULT_MODEL}`",
        file=sys.stderr,
    )
    return EXIT_OK


__all__ = [
    "DEFAULT_PROVIDER_ID",
    "ConfigFileError",
    "main",
    "merge_config",
    "model_entry",
    "model_refs",
    "provider_entry",
    "write_merged",
]
