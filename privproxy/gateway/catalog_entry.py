"""One private model as the gateway's catalog describes it, parsed tolerantly.

The PPQ catalog's format beyond "a list of objects with an `id`" is not documented, so every
other field is optional and read from the names common catalogs use (docs/configuration.md
lists them): a field that is missing, of another type or out of bounds is simply left out,
never guessed and never a reason to drop the model. Every value kept is bounded in size and
made of plain JSON scalars, so nothing the gateway sends can grow `/v1/models` without
limit or inject structure into it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

PRIVATE_PREFIX: Final = "private/"

# Enclave ids: letters, digits and `._:-`, bounded (they travel in the X-Private-Model header).
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_MODALITY = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_PRICE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_MAX_CONTEXT: Final = 100_000_000
_MAX_MODALITIES: Final = 8
_MAX_PRICES: Final = 16
_MAX_TEXT: Final = 128

Source = Literal["gateway", "fallback"]


def split_model(value: str) -> str | None:
    """`private/x` or `x` → `x` when well-formed, else None (docs/protocol.md §4.3 step 2)."""
    bare = value.removeprefix(PRIVATE_PREFIX)
    return bare if _MODEL_ID.fullmatch(bare) else None


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A private model and what the catalog said about it (None/empty: it said nothing)."""

    id: str  # `private/<id>`
    source: Source
    name: str | None = None
    context_length: int | None = None
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    supports_tools: bool | None = None
    pricing: tuple[tuple[str, float | str], ...] = field(default=())

    def openai_json(self) -> dict[str, Any]:
        """The `/v1/models` entry: OpenAI's shape plus `confidential` and what is known."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": 0,
            "owned_by": "ppq-private",
            "confidential": True,
        }
        if self.source == "fallback":
            out["fallback"] = True  # the gateway's catalog could not be fetched yet
        if self.name is not None:
            out["name"] = self.name
        if self.context_length is not None:
            out["context_length"] = self.context_length
        if self.input_modalities or self.output_modalities:
            out["modalities"] = {
                "input": list(self.input_modalities),
                "output": list(self.output_modalities),
            }
        if self.supports_tools is not None:
            out["supports_tools"] = self.supports_tools
        if self.pricing:
            out["pricing"] = dict(self.pricing)
        return out


def fallback_entry(model_id: str) -> CatalogEntry:
    """An entry of the built-in list (nothing was said about it by a gateway)."""
    return CatalogEntry(model_id, source="fallback")


def parse_catalog(entries: Sequence[str | Mapping[str, Any]]) -> tuple[CatalogEntry, ...]:
    """The private models of a fetched catalog, in its order, first occurrence of each id.

    Entries are objects with an `id` (or bare id strings); ids not starting with `private/`
    or not well-formed are skipped.
    """
    out: dict[str, CatalogEntry] = {}
    for raw in entries:
        entry = parse_entry(raw)
        if entry is not None and entry.id not in out:
            out[entry.id] = entry
    return tuple(out.values())


def parse_entry(raw: str | Mapping[str, Any]) -> CatalogEntry | None:
    """One catalog entry, or None when it is not a well-formed private model."""
    if isinstance(raw, str):
        raw = {"id": raw}
    model_id = raw.get("id")
    if not (
        isinstance(model_id, str)
        and model_id.startswith(PRIVATE_PREFIX)
        and split_model(model_id) is not None
    ):
        return None
    architecture = _mapping(raw.get("architecture"))
    inputs, outputs = _modalities(raw, architecture)
    return CatalogEntry(
        model_id,
        source="gateway",
        name=_text(raw.get("name")),
        context_length=_context_length(raw),
        input_modalities=inputs,
        output_modalities=outputs,
        supports_tools=_supports_tools(raw),
        pricing=_pricing(raw.get("pricing")),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_TEXT and value.isprintable():
        return value
    return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= _MAX_CONTEXT else None


def _context_length(raw: Mapping[str, Any]) -> int | None:
    for value in (
        raw.get("context_length"),
        raw.get("context_window"),
        raw.get("max_context_length"),
        _mapping(raw.get("top_provider")).get("context_length"),
    ):
        found = _positive_int(value)
        if found is not None:
            return found
    return None


def _modality_list(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    kept = [v for v in value if isinstance(v, str) and _MODALITY.fullmatch(v)]
    return tuple(dict.fromkeys(kept))[:_MAX_MODALITIES]


def _modality_string(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    # "text+image->text": inputs, an arrow, outputs.
    if not isinstance(value, str) or "->" not in value or len(value) > _MAX_TEXT:
        return None
    left, _, right = value.partition("->")
    return _modality_list(left.split("+")) or (), _modality_list(right.split("+")) or ()


def _modalities(
    raw: Mapping[str, Any], architecture: Mapping[str, Any]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    inputs = _modality_list(architecture.get("input_modalities"))
    if inputs is None:
        inputs = _modality_list(raw.get("input_modalities"))
    if inputs is None:
        inputs = _modality_list(raw.get("modalities"))
    outputs = _modality_list(architecture.get("output_modalities"))
    if outputs is None:
        outputs = _modality_list(raw.get("output_modalities"))
    if inputs is None and outputs is None:
        parsed = _modality_string(architecture.get("modality")) or _modality_string(
            raw.get("modality")
        )
        if parsed is not None:
            return parsed
    return inputs or (), outputs or ()


def _supports_tools(raw: Mapping[str, Any]) -> bool | None:
    for value in (
        raw.get("supports_tools"),
        raw.get("tool_calling"),
        _mapping(raw.get("capabilities")).get("tools"),
        _mapping(raw.get("capabilities")).get("tool_calling"),
    ):
        if isinstance(value, bool):
            return value
    parameters = raw.get("supported_parameters")
    if isinstance(parameters, list):
        return "tools" in parameters
    return None


def _pricing(value: Any) -> tuple[tuple[str, float | str], ...]:
    # Prices are passed through as the catalog wrote them (numbers or decimal strings; the
    # unit is the catalog's), only bounded and restricted to scalar values.
    if not isinstance(value, Mapping):
        return ()
    kept: list[tuple[str, float | str]] = []
    for key, price in value.items():
        if len(kept) >= _MAX_PRICES:
            break
        if not (isinstance(key, str) and _PRICE_KEY.fullmatch(key)):
            continue
        if isinstance(price, int | float) and not isinstance(price, bool):
            if price == price and abs(price) < 1e12:  # no NaN, no absurd magnitudes
                kept.append((key, price))
        elif isinstance(price, str) and _DECIMAL.fullmatch(price):
            kept.append((key, price))
    return tuple(kept)


_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,18})?([eE]-?[0-9]{1,3})?")

__all__ = [
    "PRIVATE_PREFIX",
    "CatalogEntry",
    "Source",
    "fallback_entry",
    "parse_catalog",
    "parse_entry",
    "split_model",
]
