"""Model aliases and the refusal of agents' default model names, on every API."""

from __future__ import annotations

import pytest

from privproxy.gateway.catalog import MODELS, CatalogView
from privproxy.server.model_alias import is_agent_default, lookup, parse_alias, parse_aliases
from privproxy.server.receive import AgentModelError, UnknownModelError, resolve_model
from tests.privproxy.conftest import MakeProxy
from tests.privproxy.fake_gateway import FakeGateway, chat_completion, json_reply

FALLBACK = CatalogView(tuple(m.id for m in MODELS), known=False)
KNOWN = CatalogView(("private/kimi-k3", "private/gpt-oss-120b"), known=True)


def test_parse_alias() -> None:
    assert parse_alias("claude-*=private/kimi-k3") == ("claude-*", "private/kimi-k3")
    assert parse_alias(" gpt-5 = glm-5-2 ") == ("gpt-5", "private/glm-5-2")
    assert parse_aliases("a=x, b=private/y,") == (("a", "private/x"), ("b", "private/y"))
    for bad in ("no-target", "=private/x", "a=", "a b=private/x", "a=private/bad id"):
        with pytest.raises(ValueError, match="model alias"):
            parse_alias(bad)


def test_lookup_prefers_exact_then_longest_prefix() -> None:
    aliases = (
        ("claude-*", "private/a"),
        ("claude-haiku-*", "private/b"),
        ("claude-x", "private/c"),
    )
    assert lookup(aliases, "claude-x") == "private/c"
    assert lookup(aliases, "claude-haiku-4-5") == "private/b"
    assert lookup(aliases, "claude-opus-4") == "private/a"
    assert lookup(aliases, "gpt-5") is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-sonnet-4-5-20250929", True),
        ("gpt-5-codex", True),
        ("o3", True),
        ("o4-mini", True),
        ("anthropic/claude-3", True),
        ("codex-mini-latest", True),
        ("gpt-oss-120b", True),  # shaped like one, but served: resolution checks the catalog first
        ("private/claude-x", False),  # explicitly private
        ("kimi-k3", False),
        ("glm-5-2", False),
        ("olmo-2", False),
    ],
)
def test_agent_default_names(name: str, expected: bool) -> None:
    assert is_agent_default(name) is expected


@pytest.mark.parametrize("catalog", [FALLBACK, KNOWN])
def test_resolution(catalog: CatalogView) -> None:
    assert resolve_model("gpt-oss-120b", catalog) == ("private/gpt-oss-120b", "gpt-oss-120b")
    with pytest.raises(AgentModelError, match="ANTHROPIC_MODEL") as info:
        resolve_model("claude-sonnet-4-5", catalog)
    assert "private/kimi-k3" in info.value.message and "--model-alias" in info.value.message
    assert info.value.status == 400 and info.value.code == "model_not_found"
    aliases = (("claude-*", "private/kimi-k3"),)
    assert resolve_model("claude-sonnet-4-5", catalog, aliases) == ("private/kimi-k3", "kimi-k3")


def test_unknown_ordinary_ids_keep_their_rules() -> None:
    assert resolve_model("brand-new", FALLBACK) == ("private/brand-new", "brand-new")
    with pytest.raises(UnknownModelError) as info:
        resolve_model("brand-new", KNOWN)
    assert not isinstance(info.value, AgentModelError)


async def test_chat_completions_use_aliases_and_refuse_agent_defaults(
    make_proxy: MakeProxy, gateway: FakeGateway
) -> None:
    gateway.reply = lambda seen: json_reply(chat_completion("ok", seen.body["model"]))
    proxy = await make_proxy(model_aliases=(("gpt-5", "private/kimi-k3"),))
    mapped = await proxy.post(
        "/v1/chat/completions",
        json={"model": "gpt-5", "messages": [{"role": "user", "content": "x"}]},
    )
    assert mapped.status == 200
    assert gateway.seen[-1].headers["X-Private-Model"] == "private/kimi-k3"
    assert gateway.seen[-1].body["model"] == "kimi-k3"
    refused = await proxy.post(
        "/v1/chat/completions",
        json={"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]},
    )
    assert refused.status == 400
    body = await refused.json()
    assert (
        body["error"]["code"] == "model_not_found" and "--model-alias" in body["error"]["message"]
    )
    assert gateway.requests == 1
