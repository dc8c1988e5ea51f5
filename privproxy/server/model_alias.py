"""Model aliases: names an agent sends by default, mapped (or refused) before resolution.

Coding agents name their vendor's models out of the box (Claude Code `claude-sonnet-...`,
Codex `gpt-5-codex`). Such a name is never a private model, and passing it on would only
earn an opaque 404 from the enclave, so it is refused with a message that lists the private
models and says how to pick one, unless the user maps it: `--model-alias NAME=private/ID`
(repeatable) or `PRIVPROXY_MODEL_ALIASES="NAME=private/ID,..."`. A NAME ending in `*` maps
every name with that prefix (`claude-*=private/kimi-k3` covers all of Claude Code's tiers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from privproxy.gateway.catalog import PRIVATE_PREFIX, split_model

ENV_VAR: Final = "PRIVPROXY_MODEL_ALIASES"
FLAG: Final = "--model-alias"

Alias = tuple[str, str]
"""(name or `prefix*`, `private/<id>`)."""

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}\*?|\*")
# Model names the agents and SDK examples use by default (Anthropic and OpenAI families).
_AGENT_DEFAULT: Final = re.compile(
    r"(?:anthropic/|openai/)?(?:claude|gpt|chatgpt|codex|o[1-9])(?:[-._:].*)?", re.IGNORECASE
)


def parse_alias(spec: str) -> Alias:
    """`NAME=private/ID` (or `NAME=ID`) → (NAME, `private/ID`); `ValueError` when malformed."""
    name, sep, target = (part.strip() for part in spec.partition("="))
    if not sep or not _NAME.fullmatch(name):
        raise ValueError(f"model alias {spec!r} must look like NAME=private/ID")
    bare = split_model(target)
    if bare is None:
        raise ValueError(f"model alias {spec!r}: {target!r} is not a private model id")
    return name, PRIVATE_PREFIX + bare


def parse_aliases(text: str) -> tuple[Alias, ...]:
    """A comma-separated list of `NAME=private/ID` (the environment variable's form)."""
    return tuple(parse_alias(part) for part in text.split(",") if part.strip())


def lookup(aliases: Iterable[Alias], name: str) -> str | None:
    """The private id `name` maps to: an exact alias first, else the longest prefix alias."""
    best: tuple[int, str] | None = None
    for alias, target in aliases:
        if alias == name:
            return target
        if alias.endswith("*") and name.startswith(alias[:-1]):
            if best is None or len(alias) > best[0]:
                best = (len(alias), target)
    return best[1] if best is not None else None


def is_agent_default(name: str) -> bool:
    """True for an Anthropic or OpenAI model name an agent sends unless told otherwise."""
    return not name.startswith(PRIVATE_PREFIX) and _AGENT_DEFAULT.fullmatch(name) is not None


__all__ = ["ENV_VAR", "FLAG", "Alias", "is_agent_default", "lookup", "parse_alias", "parse_aliases"]
