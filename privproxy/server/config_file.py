"""`--config FILE`: the serve flags, written as a TOML table instead of a command line.

Each key is a long flag name without its dashes (`api-base`, or `api_base`), its value what
the flag takes: a string or number, `true`/`false` for switches, an array for repeatable
flags. The accepted keys are read from the argparse parser itself, so every flag is
settable here, new ones included, and nothing else is: an unknown key is refused with its
name. The file is turned into the equivalent flags and parsed by the same parser, so a
value is checked exactly as on the command line. Precedence (flags > environment > file >
defaults) is applied by `Settings.from_namespace`.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any, NoReturn

from privproxy.server.config import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024
# Flags that make no sense inside the file itself.
_NOT_IN_FILE = frozenset({"help", "config"})


def load_config_file(path: Path, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse `path` into the namespace its keys give with `parser` (unset flags are None).

    Raises `ConfigError` naming the file and, where it applies, the offending key.
    """
    try:
        with path.expanduser().open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return parse_table(table, parser, source=str(path))


def accepted_keys(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Config keys (flag dests, `_` form) → their argparse action."""
    return {
        action.dest: action
        for action in parser._actions  # argparse has no public list of its actions
        if action.option_strings and action.dest not in _NOT_IN_FILE
    }


def parse_table(
    table: dict[str, Any], parser: argparse.ArgumentParser, *, source: str = "config"
) -> argparse.Namespace:
    """The namespace for a parsed TOML `table` (see module docstring). `parser` is changed
    to raise instead of exiting: pass a fresh one."""
    actions = accepted_keys(parser)
    argv: list[str] = []
    for key, value in table.items():
        action = actions.get(key.replace("-", "_"))
        if action is None:
            raise ConfigError(f"{source}: unknown key {key!r} (keys are the serve flag names)")
        argv.extend(_as_flags(key, value, action, source))

    def refuse(message: str) -> NoReturn:
        raise ConfigError(f"{source}: {message}")

    # Errors must raise, not exit the process: this parser is ours (a fresh one per call).
    parser.exit_on_error = False
    parser.error = refuse  # type: ignore[method-assign]
    try:
        return parser.parse_args(argv)
    except argparse.ArgumentError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _as_flags(key: str, value: Any, action: argparse.Action, source: str) -> list[str]:
    flag = action.option_strings[0]
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key!r} must be true or false")
        return [flag] if value else [f"--no-{flag.removeprefix('--')}"]
    if action.nargs == 0:  # store_true switches
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key!r} must be true or false")
        return [flag] if value else []
    repeatable = isinstance(action, argparse._AppendAction)
    items = value if isinstance(value, list) and repeatable else [value]
    flags: list[str] = []
    for item in items:
        if isinstance(item, bool | dict | list) or not isinstance(item, str | int | float):
            raise ConfigError(f"{source}: {key!r} has a value of the wrong type")
        flags.append(f"{flag}={item}")
    return flags


__all__ = ["MAX_CONFIG_BYTES", "accepted_keys", "load_config_file", "parse_table"]
