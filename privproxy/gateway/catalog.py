"""Private model catalog: the built-in model table and the gateway-backed, cached id list.

The Node proxy hard-coded seven models, several of which the attested router no longer
serves (docs/protocol.md §4.4). Here the list comes from the PPQ catalog
(`GET {apiBase}/v1/models?type=all`, ids starting with `private/`) and is refreshed every
`catalog_ttl` seconds in the background; requests never wait for it. Until one fetch has
succeeded only the built-in fallback table is known, and then any well-formed id is
accepted (the enclave itself answers 404 for unknown models, encrypted).

`MODELS` is also the display table for the OpenClaw config generator (docs/protocol.md §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from privproxy.errors import ProxyError
from privproxy.gateway.catalog_entry import (
    PRIVATE_PREFIX,
    CatalogEntry,
    fallback_entry,
    parse_catalog,
    split_model,
)

DEFAULT_MODEL = "private/kimi-k3"

_log = logging.getLogger("privproxy.catalog")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Display metadata of one private model (OpenClaw `ModelDefinitionConfig` fields).

    Costs are USD per million tokens. `estimated` marks rows whose numbers are not from a
    published table (docs/protocol.md §6 lists only the older models); treat them as placeholders.
    """

    id: str  # with the `private/` prefix
    name: str
    reasoning: bool
    input: tuple[str, ...]
    context_window: int
    max_tokens: int
    cost_input: float
    cost_output: float
    estimated: bool = False

    @property
    def enclave_id(self) -> str:
        """The id the enclave expects in the body (prefix removed)."""
        return self.id.removeprefix(PRIVATE_PREFIX)


# Rows whose numbers carry a predecessor's values from docs/protocol.md §6 (kimi-k2-5 for kimi-k3,
# glm-5-1 for the glm-5-3 pair, deepseek-v4-flash's for deepseek-v4-1-flash); no published
# table covers them yet.
_ESTIMATED = frozenset({"kimi-k3", "glm-5-3", "glm-5-3-flash", "deepseek-v4-1-flash"})


def _row(
    bare: str, name: str, reasoning: bool, inputs: str, context: int, max_tokens: int,
    cost_in: float, cost_out: float,
) -> ModelInfo:  # fmt: skip
    return ModelInfo(
        PRIVATE_PREFIX + bare, f"{name} (Private)", reasoning, tuple(inputs.split("+")),
        context, max_tokens, cost_in, cost_out, estimated=bare in _ESTIMATED,
    )  # fmt: skip


# The built-in fallback: chat models of the confidential-model-router today, default first.
# Used only until the gateway's catalog has been fetched once (see module docstring).
MODELS: tuple[ModelInfo, ...] = (
    # id, name, reasoning, input, context, max tokens, $ in, $ out (per million tokens)
    _row("kimi-k3", "Kimi K3", True, "text", 262144, 8192, 1.58, 5.51),
    _row("gpt-oss-120b", "GPT-OSS 120B", False, "text", 131072, 8192, 0.79, 1.31),
    _row("llama3-3-70b", "Llama 3.3 70B", False, "text", 131072, 8192, 1.84, 2.89),
    _row("glm-5-3", "GLM-5.3", True, "text", 202752, 8192, 1.58, 5.51),
    _row("glm-5-3-flash", "GLM-5.3 Flash", True, "text", 202752, 8192, 1.58, 5.51),
    _row("gemma4-31b", "Gemma 4 31B", True, "text+image", 262144, 8192, 0.47, 1.05),
    _row("deepseek-v4-1-flash", "DeepSeek V4.1 Flash", True, "text", 131072, 8192, 1.58, 5.51),
)

MODELS_BY_ID: dict[str, ModelInfo] = {m.id: m for m in MODELS}


def model_info(model_id: str) -> ModelInfo:
    """Metadata for `model_id` (prefixed); a generic row for ids only the gateway knows."""
    known = MODELS_BY_ID.get(model_id)
    if known is not None:
        return known
    bare = model_id.removeprefix(PRIVATE_PREFIX)
    return ModelInfo(model_id, f"{bare} (Private)", False, ("text",), 131072, 8192, 0, 0, True)


def model_info_from_entry(entry: CatalogEntry) -> ModelInfo:
    """`model_info` with what the gateway's catalog said about the model: its name, context
    length and input modalities replace the built-in (or generic) values. Prices stay the
    built-in ones: the catalog's price unit is not documented, and a wrong unit would make a
    client's cost display wrong by orders of magnitude."""
    base = model_info(entry.id)
    inputs = tuple(m for m in entry.input_modalities if m in ("text", "image"))
    return dataclasses.replace(
        base,
        name=entry.name or base.name,
        context_window=entry.context_length or base.context_window,
        input=inputs or base.input,
    )


@dataclass(frozen=True, slots=True)
class CatalogView:
    """What is known right now: the private ids and whether they came from the gateway,
    with what the gateway said about each (`entries`, see `catalog_entries`)."""

    ids: tuple[str, ...]
    known: bool  # True once a gateway fetch succeeded; False = built-in fallback only
    entries: tuple[CatalogEntry, ...] = ()


Fetcher = Callable[[], Awaitable[Sequence[str | Mapping[str, Any]]]]
"""Returns the gateway catalog's entries: objects with an `id` (or bare id strings)."""


def catalog_entries(view: CatalogView) -> tuple[CatalogEntry, ...]:
    """The models of `view` with metadata: what the gateway said about each model once its
    catalog was fetched, else the built-in fallback ids marked `source="fallback"`. For
    `/v1/models` and the client-config generators."""
    if view.entries:
        return view.entries
    if view.known:  # ids from the gateway without entries (a fetcher returning bare ids)
        return tuple(CatalogEntry(i, source="gateway") for i in view.ids)
    return tuple(fallback_entry(i) for i in view.ids)


class Catalog:
    """Cached private-model ids with background refresh (single flight)."""

    RETRY_AFTER_FAILURE = 60.0

    def __init__(self, fetch: Fetcher, *, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._view = CatalogView(tuple(m.id for m in MODELS), known=False)
        self._next_refresh = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def entries(self) -> tuple[CatalogEntry, ...]:
        """The current models with their metadata (`catalog_entries` of `view()`)."""
        return catalog_entries(self.view())

    def view(self) -> CatalogView:
        """The current view; schedules a background refresh when it is due. Never waits."""
        if self._clock() >= self._next_refresh and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh())
        return self._view

    async def refresh(self) -> CatalogView:
        """Refresh now (or join the refresh in flight) and return the resulting view."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(self._task)
        return self._view

    async def close(self) -> None:
        """Cancel a refresh in flight."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh(self) -> None:
        try:
            ids = await self._fetch()
        except ProxyError as exc:  # forward.py translates every network failure to one
            # Warn once per outage; the retries every minute log at debug level only.
            _log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "Model catalog unavailable (%s); keeping %s list",
                type(exc).__name__,
                "the last fetched" if self._view.known else "the built-in",
            )
            self._failing = True
            self._next_refresh = self._clock() + min(self.RETRY_AFTER_FAILURE, self._ttl)
        else:
            entries = parse_catalog(ids)
            private = tuple(e.id for e in entries)
            if private:
                self._failing = False
                self._view = CatalogView(private, known=True, entries=entries)
                self._next_refresh = self._clock() + self._ttl
            else:
                # A catalog without any private model is more likely a format change than
                # the truth; do not let it turn every request into a 400.
                _log.warning("Model catalog lists no private/* model; keeping the current list")
                self._next_refresh = self._clock() + min(self.RETRY_AFTER_FAILURE, self._ttl)
        finally:
            self._task = None


__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "MODELS_BY_ID",
    "PRIVATE_PREFIX",
    "Catalog",
    "CatalogEntry",
    "CatalogView",
    "ModelInfo",
    "catalog_entries",
    "model_info",
    "model_info_from_entry",
    "parse_catalog",
    "split_model",
]
