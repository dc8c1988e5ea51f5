"""OpenClaw custom provider for this proxy (`privproxy client-config openclaw`, alias
`privproxy openclaw-config`; the command line is in `privproxy.cli.client_config`).

OpenClaw only needs an OpenAI-compatible server (docs/protocol.md §6): a `models.providers.<id>`
entry with a `baseUrl` that **includes `/v1`** (the Node plugin registered
`http://127.0.0.1:<port>` without it, so OpenClaw's requests hit `/chat/completions` and got
404), a non-empty `apiKey`, `api: "openai-completions"`, and the model list with context
window, max tokens, reasoning, input types and cost (`privproxy.gateway.catalog.model_info`
for each model of the live catalog).

Without `--write` the provider snippet is printed. With `--write PATH` it is merged into an
existing `openclaw.json`: the file is first copied to `PATH.bak-<UTC timestamp>`, then
replaced atomically; other providers and settings are kept, and when
`agents.defaults.models` (an allowlist) exists the new model refs are added to it. A file that
is not plain JSON (OpenClaw also reads JSON5) is refused rather than rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from privproxy.gateway.catalog import MODELS, ModelInfo

DEFAULT_PROVIDER_ID: Final = "privproxy"
DEFAULT_API_KEY: Final = "privproxy-local"


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


def provider_entry(
    *, host: str, port: int, api_key: str, models: Sequence[ModelInfo] = MODELS
) -> dict[str, Any]:
    """The `models.providers.<id>` value for a proxy on `host:port`."""
    shown = f"[{host}]" if ":" in host else host
    return {
        "baseUrl": f"http://{shown}:{port}/v1",
        "apiKey": api_key,
        "api": "openai-completions",
        "models": [model_entry(m) for m in models],
    }


def model_refs(provider_id: str, provider: dict[str, Any]) -> list[str]:
    """OpenClaw model refs (`provider/model`) for every model of `provider`."""
    return [f"{provider_id}/{m['id']}" for m in provider["models"]]


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
        for ref in model_refs(provider_id, provider):
            allow.setdefault(ref, {})
    elif isinstance(allow, list):
        allow.extend(r for r in model_refs(provider_id, provider) if r not in allow)


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


def main(argv: list[str]) -> int:
    """`privproxy openclaw-config`: an alias of `privproxy client-config openclaw`."""
    from privproxy.cli.client_config import main as client_config

    return client_config(["openclaw", *argv])


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
