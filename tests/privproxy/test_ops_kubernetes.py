"""deploy/kubernetes: every document parses and validates against the Kubernetes API models
(unknown fields refused, required fields present), and says what the docs promise."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from privproxy.server.config import Settings, build_parser
from privproxy.server.config_file import parse_table
from tests.conftest import REPO

DEPLOY = REPO / "deploy" / "kubernetes"
KINDS = {
    ("v1", "Pod"): "V1Pod",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}
_LIST = re.compile(r"(?:list|List)\[(.+)\]")
_DICT = re.compile(r"(?:dict\(str, |Dict\[str, )(.+)[\])]")
_SCALARS: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
}


def _check(value: Any, type_name: str, where: str) -> None:
    """Refuse fields the API model does not have and values of the wrong JSON type."""
    if (m := _LIST.fullmatch(type_name)) is not None:
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _check(item, m.group(1), f"{where}[{i}]")
        return
    if (m := _DICT.fullmatch(type_name)) is not None:
        assert isinstance(value, dict), where
        for key, item in value.items():
            _check(item, m.group(1), f"{where}.{key}")
        return
    if type_name in _SCALARS:
        assert isinstance(value, _SCALARS[type_name]), f"{where}: not {type_name}"
        return
    if type_name == "object":  # int-or-string and similar
        return
    model = getattr(k8s, type_name)
    assert isinstance(value, dict), f"{where}: not an object"
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        assert key in by_json, f"{where}: unknown field {key!r} for {type_name}"
        _check(item, model.openapi_types[by_json[key]], f"{where}.{key}")


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


DOCS = _documents()


def test_manifests_exist() -> None:
    assert {name for name, _ in DOCS} == {"sidecar-pod.yaml", "shared.yaml"}
    assert sorted(d["kind"] for _, d in DOCS) == sorted(
        ["Pod", "ConfigMap", "Deployment", "Service", "NetworkPolicy"]
    )


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[f"{n}:{d['kind']}" for n, d in DOCS])
def test_validates_against_api_models(name: str, doc: dict[str, Any]) -> None:
    model_name = KINDS[(doc["apiVersion"], doc["kind"])]
    _check(doc, model_name, f"{name}:{doc['kind']}")
    # The client's own deserializer builds the typed object; its constructors reject missing
    # required fields and values outside enums.
    api = k8s.ApiClient()
    obj = api._ApiClient__deserialize(doc, model_name)  # type: ignore[attr-defined]
    assert type(obj).__name__ == model_name


def _pod_specs() -> list[dict[str, Any]]:
    specs = []
    for _, doc in DOCS:
        if doc["kind"] == "Pod":
            specs.append(doc["spec"])
        elif doc["kind"] == "Deployment":
            specs.append(doc["spec"]["template"]["spec"])
    return specs


def _proxy(spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in spec["containers"] if c["name"] == "privproxy"]
    assert isinstance(container, dict)
    return container


@pytest.mark.parametrize("spec", _pod_specs())
def test_hardening_secrets_probes_resources(spec: dict[str, Any]) -> None:
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["memory"]
    proxy = _proxy(spec)
    # The local token and the PPQ key come from Secrets, never from literal values.
    token = next(e for e in proxy["env"] if e["name"] == "PRIVPROXY_TOKEN")
    assert "value" not in token and token["valueFrom"]["secretKeyRef"]["key"] == "token"
    assert any("secret" in v for v in spec["volumes"] if v["name"] == "ppq-api-key")
    probes = repr(proxy["readinessProbe"]), repr(proxy["livenessProbe"])
    assert "/readyz" in probes[0] and "/healthz" in probes[1]
    limits = proxy["resources"].get("limits", {})
    assert _mebibytes(proxy["resources"]["requests"]["memory"]) >= 64  # idle RSS ~60 MB
    assert _mebibytes(limits["memory"]) >= 128  # 256 streams ~85 MB


def _mebibytes(text: str) -> int:
    assert text.endswith("Mi")
    return int(text[:-2])


def test_network_policy_admits_only_app_pods() -> None:
    kinds = {d["kind"]: d for _, d in DOCS if _ == "shared.yaml"}
    policy, deployment = kinds["NetworkPolicy"], kinds["Deployment"]
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"} and peer["podSelector"]["matchLabels"]
    assert [p["port"] for p in rule["ports"]] == [8787]
    assert kinds["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_shared_config_file_is_a_valid_privproxy_config(tmp_path: Path) -> None:
    (config_map,) = [d for _, d in DOCS if d["kind"] == "ConfigMap"]
    table = tomllib.loads(config_map["data"]["privproxy.toml"])
    table.pop("api-key-file")  # a path inside the pod
    args = parse_table(table, build_parser())
    settings = Settings.from_namespace({"HOME": str(tmp_path), "PRIVPROXY_TOKEN": "x" * 32}, args)
    assert settings.host == "0.0.0.0" and settings.log_format == "json"
    assert "privproxy" in settings.allowed_hosts


def test_sidecar_binds_loopback() -> None:
    (pod,) = [d for _, d in DOCS if d["kind"] == "Pod"]
    args = build_parser().parse_args(_proxy(pod["spec"])["args"])
    assert args.host == "127.0.0.1" and args.require_token is True


def test_validation_catches_mistakes() -> None:
    import copy

    (deployment,) = [d for _, d in DOCS if d["kind"] == "Deployment"]
    typo = copy.deepcopy(deployment)
    proxy = _proxy(typo["spec"]["template"]["spec"])
    proxy["readinessProb"] = proxy.pop("readinessProbe")
    with pytest.raises(AssertionError, match="unknown field 'readinessProb'"):
        _check(typo, "V1Deployment", "typo")
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(AssertionError, match="not int"):
        _check(wrong_type, "V1Deployment", "wrong")
    missing = copy.deepcopy(deployment)
    del _proxy(missing["spec"]["template"]["spec"])["name"]
    with pytest.raises(ValueError, match="name"):
        k8s.ApiClient()._ApiClient__deserialize(missing, "V1Deployment")  # type: ignore[attr-defined]
