"""`privproxy openclaw-config`: the provider snippet and the merge into openclaw.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privproxy.cli import main as cli
from privproxy.cli.openclaw import main, provider_entry
from privproxy.gateway.catalog import MODELS


def test_prints_a_provider_with_v1_base_url_and_full_model_metadata(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["openclaw-config", "--offline", "--port", "9911", "--provider-id", "pp"]) == 0
    snippet = json.loads(capsys.readouterr().out)
    provider = snippet["models"]["providers"]["pp"]
    assert provider["baseUrl"] == "http://127.0.0.1:9911/v1"  # with /v1, unlike the Node plugin
    assert provider["api"] == "openai-completions" and provider["apiKey"]
    assert [m["id"] for m in provider["models"]] == [m.id for m in MODELS]
    first, model = provider["models"][0], MODELS[0]
    assert first == {
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


def test_merges_into_an_existing_config_with_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    original = {
        "models": {"providers": {"other": {"baseUrl": "http://x/v1", "models": []}}},
        "agents": {"defaults": {"models": {"other/m": {"alias": "m"}}, "workspace": "~/w"}},
        "gateway": {"port": 18789},
    }
    path.write_text(json.dumps(original))
    path.chmod(0o600)
    assert main(["--offline", "--write", str(path), "--port", "8787"]) == 0
    merged = json.loads(path.read_text())
    assert merged["models"]["providers"]["other"] == original["models"]["providers"]["other"]  # type: ignore[index]
    assert merged["models"]["providers"]["privproxy"] == provider_entry(
        host="127.0.0.1", port=8787, api_key="privproxy-local"
    )
    allow = merged["agents"]["defaults"]["models"]
    assert allow["other/m"] == {"alias": "m"}
    assert {f"privproxy/{m.id}" for m in MODELS} <= set(allow)
    assert merged["gateway"] == {"port": 18789}
    backups = list(tmp_path.glob("openclaw.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == original
    assert path.stat().st_mode & 0o777 == 0o600


def test_rewriting_replaces_only_our_provider(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "openclaw.json"
    assert (
        main(["--offline", "--write", str(path), "--port", "1111"]) == 0
    )  # created, nothing to back up
    assert not list(path.parent.glob("*.bak-*"))
    assert main(["--offline", "--write", str(path), "--port", "2222"]) == 0
    providers = json.loads(path.read_text())["models"]["providers"]
    assert list(providers) == ["privproxy"]
    assert providers["privproxy"]["baseUrl"] == "http://127.0.0.1:2222/v1"


def test_refuses_a_file_it_cannot_parse_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    json5 = "{\n  // JSON5 comment\n  models: {},\n}\n"
    path.write_text(json5)
    assert main(["--offline", "--write", str(path)]) == 1
    assert path.read_text() == json5
    assert not list(tmp_path.glob("*.bak-*"))


def test_rejects_a_provider_id_with_a_slash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--offline", "--provider-id", "a/b"]) == 2
    assert capsys.readouterr().out == ""
