"""Strict parsing of v3 documents and of the signed platform artifact, one rule at a time.

Inputs are the real document and the real v0.9 artifact (from inside the real document's
platform bundle), each mutated in one place.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from attestation.errors import AttestationError, Code
from attestation.v3 import strictjson
from attestation.v3.binding import parse_nonce, report_data_for
from attestation.v3.document import parse_document
from attestation.v3.endorsements import Shape, parse_endorsements
from tests.attestation.v3.realdoc import REAL_NONCE, dumps, entry, real_bytes, real_doc


def _code(data: bytes) -> Code:
    with pytest.raises(AttestationError) as info:
        parse_document(data)
    return info.value.code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (b'{"a":1,"a":2}', Code.V3_ENV_DUPLICATE_MEMBER),
        (b'{"a":{"b":1,"\\u0062":2}}', Code.V3_ENV_DUPLICATE_MEMBER),  # escapes decoded first
        (b'{"a":1.5}', Code.V3_ENV_JSON_INVALID),
        (b'{"a":1e3}', Code.V3_ENV_JSON_INVALID),
        (b'{"a":NaN}', Code.V3_ENV_JSON_INVALID),
        (b'{"a":1} x', Code.V3_ENV_JSON_INVALID),
        (b'{"a":"\xff"}', Code.V3_ENV_JSON_INVALID),
        (b'{"a":123456789012345678901234567890}', Code.V3_ENV_JSON_INVALID),
    ],
)
def test_strict_json_rules(text: bytes, code: Code) -> None:
    with pytest.raises(AttestationError) as info:
        strictjson.loads(text, what="test")
    assert info.value.code is code


def test_strict_json_accepts_whitespace_and_keeps_decimals_only_when_asked() -> None:
    assert strictjson.loads(b' {"a": [1, 2]} \n', what="t") == {"a": [1, 2]}
    assert str(strictjson.loads(b'{"a": 8.0}', what="t", allow_decimal=True)["a"]) == "8.0"


def _edit(path: tuple[Any, ...], value: Any) -> bytes:
    doc = real_doc()
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return dumps(doc)


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        (("challenge", "nonce"), "AB" * 32, Code.V3_ENV_BAD_HEX),
        (("challenge", "nonce"), "ab" * 31, Code.V3_ENV_BAD_HEX),
        (("challenge", "nonce"), _DELETE, Code.V3_ENV_BAD_HEX),  # absent reads as ""
        (("challenge", "report_data_algorithm"), "x", Code.V3_ENV_BAD_ALGORITHM),
        (("challenge", "extra"), "x", Code.V3_ENV_UNKNOWN_MEMBER),
        (("cpu_evidence", "report_base64"), "", Code.V3_ENV_CPU_INCOMPLETE),
        (("cpu_evidence", "endorsed", "crypto_material_hash"), "00", Code.V3_ENV_BAD_HEX),
        (("crypto_material",), "", Code.V3_ENV_SECTION_MISSING),
        (("device_evidence",), None, Code.V3_ENV_SECTION_MISSING),
        (("crypto_material",), "eyJ9\n", Code.V3_ENV_NONCANONICAL_BASE64),
        (("collateral", 0, "role"), "endorsements", Code.V3_ENV_COLLATERAL_ROLE),
        (("collateral", 0, "id"), "", Code.V3_ENV_COLLATERAL_INCOMPLETE),
        (("collateral", 1, "id"), "cpu-endorsement", Code.V3_ENV_DUPLICATE_COLLATERAL_ID),
        (("collateral", 0, "extra"), 1, Code.V3_ENV_UNKNOWN_MEMBER),
        (("format",), "https://tinfoil.sh/predicate/attestation/v2", Code.V3_ENV_BAD_FORMAT),
    ],
)
def test_document_rules(path: tuple[Any, ...], value: Any, code: Code) -> None:
    assert _code(_edit(path, value)) is code


def _section(name: str, value: dict[str, Any]) -> bytes:
    doc = real_doc()
    doc[name] = base64.b64encode(json.dumps(value).encode()).decode()
    return dumps(doc)


def _crypto() -> dict[str, Any]:
    doc = real_doc()
    loaded: dict[str, Any] = json.loads(base64.b64decode(doc["crypto_material"]))
    return loaded


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda c: c.update(format="x"), Code.V3_ENV_SECTION_FORMAT),
        (lambda c: c.pop("items"), Code.V3_ENV_ITEMS_MISSING),
        (lambda c: c["items"][1].update(id="tls"), Code.V3_ENV_DUPLICATE_ITEM_ID),
        (lambda c: c["items"][0].update(id=""), Code.V3_ENV_ITEM_INCOMPLETE),
        (lambda c: c["items"][1].update(data="AB" * 32), Code.V3_ENV_KEY_DATA),
        (lambda c: c["items"][1].update(data="ab" * 31), Code.V3_ENV_KEY_DATA),
        (
            lambda c: c["items"].append({"id": "x", "format": "y", "data": "abc"}),
            Code.V3_ENV_KEY_DATA,
        ),
    ],
)
def test_crypto_material_rules(edit: Any, code: Code) -> None:
    section = _crypto()
    edit(section)
    assert _code(_section("crypto_material", section)) is code


def test_unknown_crypto_items_are_kept_but_not_interpreted() -> None:
    section = _crypto()
    section["items"].append(
        {"id": "spki", "format": "https://tinfoil.sh/key/spki/v1", "data": "30"}
    )
    doc = parse_document(_section("crypto_material", section))
    assert [i.id for i in doc.crypto_items] == ["tls", "hpke", "spki"]


def test_nonce_and_ladder_helpers() -> None:
    assert parse_nonce(REAL_NONCE.hex()) == REAL_NONCE
    for bad in ("zz" * 32, "ab" * 31):
        with pytest.raises(AttestationError) as info:
            parse_nonce(bad)
        assert info.value.code is Code.V3_CONFIG_BAD_NONCE
    doc = parse_document(real_bytes())
    assert report_data_for(REAL_NONCE, doc.crypto_material_hash, doc.device_evidence_hash) == (
        doc.report_data
    )


# -- the signed platform artifact ------------------------------------------------------------


def _artifact() -> dict[str, Any]:
    bundle = entry(real_doc(), "platform")["data"]["sigstore_bundle"]
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    predicate: dict[str, Any] = statement["predicate"]
    return copy.deepcopy(predicate)


def test_real_artifact_parses() -> None:
    endorsements = parse_endorsements(_artifact())
    assert len(endorsements.machines) == 14 and len(endorsements.measurements) == 16
    genoa = endorsements.policies["amd-genoa-prod"].sev_snp
    assert genoa is not None and genoa.minimum_api_version == (1, 55)
    assert genoa.guest_policy["smt"] and not genoa.guest_policy["debug"]
    h200 = endorsements.policies["tdx-h200-prod"].tdx
    assert h200 is not None and len(h200.mr_seam) == 48


def _policy(a: dict[str, Any], name: str) -> dict[str, Any]:
    block: dict[str, Any] = a["policies"][name]
    return block


ARTIFACT_EDITS: dict[str, Any] = {
    "unknown top member": lambda a: a.update(extra={}),
    "format": lambda a: a.update(format="x"),
    "machine to missing policy": lambda a: a["machines"].update({"ab" * 64: "nope"}),
    "sev id on a tdx policy": lambda a: a["machines"].update({"ab" * 64: "tdx-h200-prod"}),
    "uppercase machine id": lambda a: a["machines"].update({"AB" * 16: "tdx-h200-prod"}),
    "mr_seam list": lambda a: _policy(a, "tdx-h200-prod")["tdx"].update(
        mr_seam=[_policy(a, "tdx-h200-prod")["tdx"]["mr_seam"]]
    ),
    "dangling measurement": lambda a: _policy(a, "tdx-h200-prod")["tdx"][
        "platform_measurements"
    ].append("nope"),
    "empty measurements": lambda a: _policy(a, "tdx-h200-prod")["tdx"].update(
        platform_measurements=[]
    ),
    "missing vmpl": lambda a: _policy(a, "amd-genoa-prod")["sev_snp"].pop("vmpl"),
    "vmpl 4": lambda a: _policy(a, "amd-genoa-prod")["sev_snp"].update(vmpl=4),
    "require_id_block": lambda a: _policy(a, "amd-genoa-prod")["sev_snp"].update(
        require_id_block=True
    ),
    "bad version": lambda a: _policy(a, "amd-genoa-prod")["sev_snp"].update(
        minimum_api_version="1.256"
    ),
    "unknown guest policy bit": lambda a: _policy(a, "amd-genoa-prod")["sev_snp"][
        "guest_policy"
    ].update(turbo=True),
    "both platform blocks": lambda a: _policy(a, "amd-genoa-prod").update(tdx={}),
    "shape without cpus": lambda a: next(iter(a["measurements"].values()))["shape"].pop("cpus"),
}


@pytest.mark.parametrize("name", sorted(ARTIFACT_EDITS))
def test_artifact_rejections(name: str) -> None:
    artifact = _artifact()
    ARTIFACT_EDITS[name](artifact)
    with pytest.raises(AttestationError) as info:
        parse_endorsements(artifact)
    assert info.value.code is Code.V3_PROV_ARTIFACT_INVALID


def test_shape_matching() -> None:
    need = Shape(cpus=8, memory_mb=16384, disks=3, gpus=0)
    assert Shape(8, 16384, 3).satisfies(need)  # gpus unstated on one side
    assert Shape(8, 16384, 3, gpus=0).satisfies(need)
    assert not Shape(8, 16384, 3, gpus=1).satisfies(need)
    assert not Shape(4, 16384, 3).satisfies(need)
