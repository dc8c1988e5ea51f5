"""Every ``verify-sigstore`` conformance vector, through the stage's ``run`` function.

A vector whose ``required_capabilities`` our declared ``CAPABILITIES`` do not satisfy is
skipped with that reason (none is today)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from attestation.conformance import stage_sigstore
from attestation.conformance.base import MalformedInput, Unsupported
from attestation.errors import AttestationError
from tests.conftest import DATA

STAGE_DIR = DATA / "conformance" / "vectors" / "sigstore"
VECTORS = sorted(p.name for p in STAGE_DIR.glob("[0-9]*")) if STAGE_DIR.exists() else []


def capability(caps: dict[str, Any], dotted: str) -> object:
    node: object = caps
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def unmet_capabilities(required: dict[str, Any], caps: dict[str, Any]) -> list[str]:
    unmet = []
    for key, wanted in (required or {}).items():
        have = capability(caps, key)
        ok = have in wanted if isinstance(wanted, list) else have == wanted
        if not ok:
            unmet.append(f"{key}={wanted!r} (we declare {have!r})")
    return unmet


def run_vector(module: Any, directory: Path) -> None:
    manifest = yaml.safe_load((directory / "manifest.yaml").read_text())
    unmet = unmet_capabilities(manifest.get("required_capabilities"), module.CAPABILITIES)
    if unmet:
        pytest.skip("capability not supported: " + ", ".join(unmet))
    data = json.loads((directory / "input.json").read_text())
    expected = json.loads((directory / "expected.json").read_text())
    expects = manifest["expects"]
    outputs: dict[str, Any] | None = None
    try:
        outputs = module.run(data)
        exit_code, code = 0, None
    except AttestationError as exc:
        exit_code, code = 10, exc.code.value
    except Unsupported:
        exit_code, code = 20, None
    except MalformedInput:
        exit_code, code = 30, None
    assert exit_code == expects["exit_code"], f"{directory.name}: got {exit_code} {code}"
    if exit_code == 10:
        allowed = expects["rejection_code"]
        allowed = [allowed] if isinstance(allowed, str) else allowed
        assert code in allowed
    if exit_code == 0:
        assert outputs is not None
        for key, value in expected["outputs"].items():
            got = outputs.get(key)
            if isinstance(value, str) and isinstance(got, str):
                assert got.lower() == value.lower(), key
            else:
                assert got == value, key


@pytest.mark.parametrize("vector", VECTORS)
def test_sigstore_vector(vector: str) -> None:
    run_vector(stage_sigstore, STAGE_DIR / vector)


def test_sigstore_vectors_present() -> None:
    if not STAGE_DIR.exists():
        pytest.fail("tests/data/conformance/vectors is missing from the repository")
    assert len(VECTORS) >= 42


@pytest.mark.parametrize(
    "override", [{"sct_min": 2}, {"tlog_entries_min": 0}, {"observer_timestamps_min": 0}]
)
def test_unsupported_policy_values_exit_20(override: dict[str, int]) -> None:
    directory = STAGE_DIR / "001-happy-path-snp-tdx-multiplatform"
    if not directory.exists():
        pytest.fail("tests/data/conformance/vectors is missing from the repository")
    data = json.loads((directory / "input.json").read_text())
    data["policy"].update(override)
    with pytest.raises(Unsupported):
        stage_sigstore.run(data)


def test_tlog_entries_max_is_honoured() -> None:
    directory = STAGE_DIR / "067-bundle-two-tlog-entries"
    if not directory.exists():
        pytest.fail("tests/data/conformance/vectors is missing from the repository")
    data = json.loads((directory / "input.json").read_text())
    assert stage_sigstore.run(data)["tlog_entry_count"] == 2
    data["policy"]["tlog_entries_max"] = 1
    with pytest.raises(AttestationError) as info:
        stage_sigstore.run(data)
    assert info.value.code.value == "TLOG_COUNT_OUT_OF_RANGE"
