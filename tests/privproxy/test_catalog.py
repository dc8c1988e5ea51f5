"""Model catalog: id forms, the built-in table, TTL cache, failure handling, resolution."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from privproxy.gateway.catalog import (
    DEFAULT_MODEL,
    MODELS,
    Catalog,
    CatalogView,
    model_info,
    split_model,
)
from privproxy.gateway.forward import GatewayUnreachableError
from privproxy.server.receive import InvalidRequestError, UnknownModelError, resolve_model


def test_builtin_table_is_todays_router() -> None:
    assert [m.id for m in MODELS] == [
        "private/kimi-k3",
        "private/gpt-oss-120b",
        "private/llama3-3-70b",
        "private/glm-5-3",
        "private/glm-5-3-flash",
        "private/gemma4-31b",
        "private/deepseek-v4-1-flash",
    ]
    assert DEFAULT_MODEL == MODELS[0].id
    gemma = model_info("private/gemma4-31b")
    assert gemma.input == ("text", "image") and gemma.context_window == 262144
    assert gemma.enclave_id == "gemma4-31b" and not gemma.estimated
    assert model_info("private/kimi-k3").estimated
    other = model_info("private/new-one")
    assert other.name == "new-one (Private)" and other.estimated


@pytest.mark.parametrize(
    ("value", "bare"),
    [
        ("private/kimi-k3", "kimi-k3"),
        ("kimi-k3", "kimi-k3"),
        ("org:model.v1_2", "org:model.v1_2"),
        ("", None),
        ("private/", None),
        ("a b", None),
        ("x\r\ny", None),
        ("../etc", None),
        ("a" * 129, None),
    ],
)
def test_split_model(value: str, bare: str | None) -> None:
    assert split_model(value) == bare


def test_resolve_model() -> None:
    known = CatalogView(("private/a", "private/b"), known=True)
    fallback = CatalogView(("private/a",), known=False)
    assert resolve_model("private/a", known) == ("private/a", "a")
    assert resolve_model("b", known) == ("private/b", "b")
    assert resolve_model("zzz", fallback) == ("private/zzz", "zzz")
    assert resolve_model(None, fallback) == ("private/kimi-k3", "kimi-k3")
    with pytest.raises(
        UnknownModelError, match=r"Unknown model: zzz\. Available: private/a, private/b"
    ):
        resolve_model("zzz", known)
    with pytest.raises(InvalidRequestError, match="must be a string"):
        resolve_model(["a"], known)
    with pytest.raises(UnknownModelError):
        resolve_model("bad id", fallback)


class FakeFetch:
    def __init__(self) -> None:
        self.calls = 0
        self.result: Sequence[str] | Exception = ["private/x", "gpt-4o", "private/y", "private/x"]

    async def __call__(self) -> Sequence[str]:
        self.calls += 1
        await asyncio.sleep(0)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def test_catalog_cache_and_ttl() -> None:
    now = [1000.0]
    fetch = FakeFetch()
    catalog = Catalog(fetch, ttl=600, clock=lambda: now[0])
    first = catalog.view()  # schedules, does not wait
    assert first.known is False and first.ids == tuple(m.id for m in MODELS)
    view = await catalog.refresh()
    assert view.ids == ("private/x", "private/y") and view.known
    assert [e.source for e in view.entries] == ["gateway", "gateway"]
    assert fetch.calls == 1
    now[0] += 599
    assert catalog.view() == view
    await asyncio.sleep(0)
    assert fetch.calls == 1  # fresh: no refetch
    now[0] += 2
    catalog.view()
    await catalog.refresh()  # joins the refresh the view just started
    assert fetch.calls == 2
    await catalog.close()


async def test_catalog_failure_keeps_last_known_and_retries_sooner() -> None:
    now = [0.0]
    fetch = FakeFetch()
    catalog = Catalog(fetch, ttl=600, clock=lambda: now[0])
    known = await catalog.refresh()
    fetch.result = GatewayUnreachableError("down")
    now[0] += 601
    assert await catalog.refresh() == known  # stale but still known
    now[0] += Catalog.RETRY_AFTER_FAILURE - 1
    catalog.view()
    await asyncio.sleep(0)
    assert fetch.calls == 2  # not yet
    now[0] += 2
    fetch.result = ["private/z"]
    catalog.view()
    assert (await catalog.refresh()).ids == ("private/z",)
    assert fetch.calls == 3


async def test_concurrent_refreshes_share_one_fetch() -> None:
    fetch = FakeFetch()
    catalog = Catalog(fetch, ttl=600)
    views = await asyncio.gather(*(catalog.refresh() for _ in range(10)))
    assert fetch.calls == 1
    assert all(v.known for v in views)
