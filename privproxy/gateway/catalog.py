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
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from privproxy.errors import ProxyError

PRIVATE_PREFIX = "private/"
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


# Rows whose numbers carry their predecessor's values from docs/protocol.md §6 (kimi-k2-5 for
# kimi-k3, glm-5-1 for glm-5-2 and deepseek-v4-flash); no published table covers them yet.
_ESTIMATED = frozenset({"kimi-k3", "glm-5-2", "deepseek-v4-flash"})


def _row(
    bare: str, name: str, reasoning: bool, inputs: str, context: int, max_tokens: int,
    cost_in: float, cost_out: float,
) -> ModelInfo:  # fmt: skip
    return ModelInfo(
        PRIVATE_PREFIX + bare, f"{name} (Private)", reasoning, tuple(inputs.split("+")),
        context, max_tokens, cost_in, cost_out, estimated=bare in _ESTIMATED,
    )  # fmt: skip


# Chat models of the confidential-model-router at HEAD (docs/protocol.md §4.4), default first.
MODELS: tuple[ModelInfo, ...] = (
    #    id                   name                 think  input         ctx     max   $in   $out
    _row("kimi-k3",           "Kimi K3",           True,  "text",       262144, 8192, 1.58, 5.51),
    _row("gpt-oss-120b",      "GPT-OSS 120B",      False, "text",       131072, 8192, 0.79, 1.31),
    _row("llama3-3-70b",      "Llama 3.3 70B",     False, "text",       131072, 8192, 1.84, 2.89),
    _row("glm-5-2",           "GLM-5.2",           True,  "text",       202752, 8192, 1.58, 5.51),
    _row("gemma4-31b",        "Gemma 4 31B",       True,  "text+image", 262144, 8192, 0.47, 1.05),
    _row("deepseek-v4-flash", "DeepSeek V4 Flash", True,  "text",       131072, 8192, 1.58, 5.51),
)  # fmt: skip

MODELS_BY_ID: dict[str, ModelInfo] = {m.id: m for m in MODELS}

# Enclave ids: letters, digits and `._:-`, bounded (they travel in the X-Private-Model header).
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def model_info(model_id: str) -> ModelInfo:
    """Metadata for `model_id` (prefixed); a generic row for ids only the gateway knows."""
    known = MODELS_BY_ID.get(model_id)
    if known is not None:
        return known
    bare = model_id.removeprefix(PRIVATE_PREFIX)
    return ModelInfo(model_id, f"{bare} (Private)", False, ("text",), 131072, 8192, 0, 0, True)


def split_model(value: str) -> str | None:
    """`private/x` or `x` → `x` when well-formed, else None (docs/protocol.md §4.3 step 2)."""
    bare = value.removeprefix(PRIVATE_PREFIX)
    return bare if _MODEL_ID.fullmatch(bare) else None


@dataclass(frozen=True, slots=True)
class CatalogView:
    """What is known right now: the private ids and whether they came from the gateway."""

    ids: tuple[str, ...]
    known: bool  # True once a gateway fetch succeeded; False = built-in fallback only


Fetcher = Callable[[], Awaitable[Sequence[str]]]


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
            private = tuple(dict.fromkeys(i for i in ids if i.startswith(PRIVATE_PREFIX)))
            private = tuple(i for i in private if split_model(i) is not None)
            if private:
                self._failing = False
                self._view = CatalogView(private, known=True)
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
    "CatalogView",
    "ModelInfo",
    "model_info",
    "split_model",
]
