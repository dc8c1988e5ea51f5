"""`privproxy config --print [serve flags]`: the effective configuration, secrets masked.

Takes the same flags as `privproxy serve` (`--config FILE` included) and the same
environment, resolves them exactly as `serve` would (flags > environment > file >
defaults), and prints one `name = value` line per setting in TOML syntax. Secrets (the PPQ
key, the local token, an unsafe HPKE key) show only whether they are set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from privproxy.server.config import ConfigError, Settings, build_parser

EXIT_OK, EXIT_USAGE = 0, 2
MASK = "********"
_SECRET_FIELDS = frozenset({"unsafe_hpke_key"})


def effective_config(settings: Settings) -> dict[str, Any]:
    """Every setting as a TOML-ready value, secrets replaced by `MASK`; None when unset."""
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            out[name] = None
        elif isinstance(value, SecretStr) or name in _SECRET_FIELDS:
            out[name] = MASK
        elif isinstance(value, Path):
            out[name] = str(value)
        elif isinstance(value, bytes):
            out[name] = value.hex()
        elif isinstance(value, tuple):
            out[name] = [v.hex() if isinstance(v, bytes) else str(v) for v in value]
        else:
            out[name] = value
    return out


def render(values: dict[str, Any]) -> str:
    """`name = value` lines (TOML: strings and arrays as JSON, which TOML accepts)."""
    lines = []
    for name, value in values.items():
        if value is None:  # TOML has no null
            lines.append(f"# {name}: not set")
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Entry point (dispatched by `privproxy.cli.main`)."""
    parser = build_parser(prog="privproxy config")
    parser.description = (
        "Show the effective configuration (flags > environment > --config file > defaults), "
        "secrets masked. Accepts every serve flag."
    )
    parser.add_argument("--print", action="store_true", dest="print_config", help="print it")
    args = parser.parse_args(argv)
    if not args.print_config:
        parser.print_usage(sys.stderr)
        print("privproxy config: nothing to do (use --print)", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings.from_namespace(os.environ, args)
    except ConfigError as exc:
        print(f"privproxy config: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(render(effective_config(settings)))
    return EXIT_OK


__all__ = ["MASK", "effective_config", "main", "render"]
