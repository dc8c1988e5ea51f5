"""Catalog metadata: passed through to /v1/models when the catalog says it, read tolerantly,
bounded; the built-in fallback marked as such."""

from __future__ import annotations

from typing import Any

import pytest

from privproxy.gateway.catalog import CatalogView, catalog_entries
from privproxy.gateway.catalog_entry import parse_catalog, parse_entry
from privproxy.server.app_keys import CATALOG_KEY
from tests.privproxy.conftest import MakeProxy, ProxyClient
from tests.privproxy.fake_gateway import FakeGateway

RICH = {
    "id": "private/kimi-k3",
    "name": "Kimi K3",
    "context_length": 262144,
    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
    "supported_parameters": ["tools", "temperature"],
    "pricing": {"prompt": "0.0000015", "completion": 5.5},
}


async def test_metadata_passed_through(proxy: ProxyClient, gateway: FakeGateway) -> None:
    gateway.catalog = {"data": [RICH, {"id": "private/bare"}, {"id": "gpt-4o", "name": "x"}]}
    await proxy.app[CATALOG_KEY].refresh()
    body = await (await proxy.get("/v1/models")).json()
    assert body["object"] == "list"
    kimi, bare = body["data"]
    assert kimi == {
        "id": "private/kimi-k3",
        "object": "model",
        "created": 0,
        "owned_by": "ppq-private",
        "confidential": True,
        "name": "Kimi K3",
        "context_length": 262144,
        "modalities": {"input": ["text", "image"], "output": ["text"]},
        "supports_tools": True,
        "pricing": {"prompt": "0.0000015", "completion": 5.5},
    }
    # Nothing said, nothing claimed.
    assert bare == {
        "id": "private/bare",
        "object": "model",
        "created": 0,
        "owned_by": "ppq-private",
        "confidential": True,
    }


async def test_catalog_change_shows_without_restart(
    proxy: ProxyClient, gateway: FakeGateway
) -> None:
    catalog = proxy.app[CATALOG_KEY]
    await catalog.refresh()
    gateway.catalog = {"data": [{**RICH, "id": "private/new-model", "context_length": 1000}]}
    await catalog.refresh()
    entries = catalog.entries()
    assert [e.id for e in entries] == ["private/new-model"]
    assert entries[0].context_length == 1000 and entries[0].source == "gateway"


async def test_fallback_marked(make_proxy: MakeProxy, gateway: FakeGateway) -> None:
    gateway.catalog_status = 503
    client = await make_proxy()
    await client.app[CATALOG_KEY].refresh()
    data = (await (await client.get("/v1/models")).json())["data"]
    assert data and all(d["fallback"] is True and d["confidential"] is True for d in data)
    assert all("context_length" not in d and "pricing" not in d for d in data)


def test_catalog_entries_function() -> None:
    fallback = catalog_entries(CatalogView(("private/a",), known=False))
    assert [(e.id, e.source) for e in fallback] == [("private/a", "fallback")]
    known = catalog_entries(CatalogView(("private/a",), known=True))
    assert [(e.id, e.source) for e in known] == [("private/a", "gateway")]


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ({"context_window": 8192}, "context_length", 8192),
        ({"max_context_length": 4096}, "context_length", 4096),
        ({"top_provider": {"context_length": 2048}}, "context_length", 2048),
        ({"context_length": True}, "context_length", None),
        ({"context_length": -5}, "context_length", None),
        ({"context_length": 10**12}, "context_length", None),
        ({"context_length": "8192"}, "context_length", None),
        ({"input_modalities": ["text", "audio"]}, "input_modalities", ("text", "audio")),
        ({"modalities": ["text", "image"]}, "input_modalities", ("text", "image")),
        ({"architecture": {"modality": "text+image->text"}}, "input_modalities", ("text", "image")),
        ({"architecture": {"modality": "text+image->text"}}, "output_modalities", ("text",)),
        ({"input_modalities": ["Text!", 3, "x" * 40, "text"]}, "input_modalities", ("text",)),
        ({"input_modalities": "text"}, "input_modalities", ()),
        ({"supports_tools": False}, "supports_tools", False),
        ({"tool_calling": True}, "supports_tools", True),
        ({"capabilities": {"tools": True}}, "supports_tools", True),
        ({"supported_parameters": ["temperature"]}, "supports_tools", False),
        ({"supported_parameters": "tools"}, "supports_tools", None),
        (
            {"pricing": {"prompt": {"nested": 1}, "completion": "1e-6"}},
            "pricing",
            (("completion", "1e-6"),),
        ),
        ({"pricing": {"prompt": "free", "x y": 1, "image": True}}, "pricing", ()),
        ({"pricing": [1, 2]}, "pricing", ()),
        ({"name": "x" * 200}, "name", None),
        ({"name": "bad\nname"}, "name", None),
    ],
)
def test_tolerant_fields(raw: dict[str, Any], field: str, expected: object) -> None:
    entry = parse_entry({"id": "private/m", **raw})
    assert entry is not None  # an odd field never drops the model
    assert getattr(entry, field) == expected


def test_pricing_bounded() -> None:
    entry = parse_entry({"id": "private/m", "pricing": {f"k{i}": i for i in range(100)}})
    assert entry is not None and len(entry.pricing) == 16


@pytest.mark.parametrize(
    "raw",
    [
        "gpt-4o",
        "private/",
        "private/bad id",
        {"id": 5},
        {"name": "private/x"},
        {"id": "private/" + "a" * 200},
    ],
)
def test_non_private_or_malformed_ids_skipped(raw: Any) -> None:
    assert parse_entry(raw) is None


def test_parse_catalog_order_and_duplicates() -> None:
    entries = parse_catalog(
        [
            "private/b",
            {"id": "private/a", "context_length": 5},
            {"id": "private/b", "name": "later"},
        ]
    )
    assert [e.id for e in entries] == ["private/b", "private/a"]
    assert entries[0].name is None  # the first occurrence wins
