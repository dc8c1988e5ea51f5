"""v3 documents with TDX evidence: a synthetic Intel PKI, the simulator's Sigstore.

No final-format TDX document from production exists to test with; the quote, PCK chain and
PCS collateral come from `tests.attestation.tdx_synth` (real signatures under a test root),
the reference values are signed by the simulator's Sigstore. Both roots are passed explicitly.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from attestation.errors import AttestationError, Code, Step
from attestation.models import Platform
from attestation.provenance.trust import SigstoreTrust
from attestation.sev.roots import AmdTrust
from attestation.tdx.collateral_source import ROOT_CRL_URL
from attestation.tdx.policy import INTEL_QE_VENDOR_ID
from attestation.tdx.policy_data import production_table
from attestation.trust import Trust
from attestation.v3 import verify_document
from attestation.v3.tdx import PCS, replay_key
from privproxy.simulator.v3 import PLATFORM_PREDICATE, V3Material
from privproxy.simulator.world import DEFAULT_REPOSITORY, SimulatedWorld
from tests.attestation import tdx_synth as synth

NOW = synth.NOW
MR_SEAM_TDX_2_0_08 = production_table().mr_seam("2.0.08")
PPID = b"\x07" * 16  # what tdx_synth's PCK leaf carries
CPU_TDX = "https://tinfoil.sh/format/tdx-quote/v1"
MRTD, RTMR0, RTMR1, RTMR2 = ("11" * 48, "22" * 48, "33" * 48, "44" * 48)  # tdx_synth body
SHAPE = {"cpus": 8, "memory_mb": 16384, "disks": 3}  # the simulator's code vm_shape


def _policy(**changes: Any) -> dict[str, Any]:
    tdx = {
        "qe_vendor_id": INTEL_QE_VENDOR_ID.hex(),
        "minimum_tee_tcb_svn": "03010200" + "00" * 12,
        "mr_seam": MR_SEAM_TDX_2_0_08.hex(),
        "td_attributes": "0000001000000000",
        "xfam": "e702060000000000",
        "minimum_tcb_evaluation_data_number": 19,
        "platform_measurements": ["other-shape", "small"],
    }
    tdx.update(changes)
    return {"platform": "tdx", "tdx": tdx}


def _artifact(policy: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    artifact = {
        "format": PLATFORM_PREDICATE,
        "measurements": {
            "other-shape": {"mrtd": MRTD, "rtmr0": RTMR0, "shape": {**SHAPE, "cpus": 4}},
            "small": {"mrtd": MRTD, "rtmr0": RTMR0, "shape": {**SHAPE, "gpus": 0}},
        },
        "machines": {PPID.hex(): "tdx-test"},
        "policies": {"tdx-test": policy or _policy()},
    }
    artifact.update(top)
    return artifact


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return SimulatedWorld.generate(now=NOW - dt.timedelta(hours=2))


@pytest.fixture(scope="module")
def pki() -> synth.Pki:
    return synth.Pki()


def _responses(pki: synth.Pki, collateral: Any, drop: str = "") -> list[dict[str, Any]]:
    q = urllib.parse.quote
    captured = [
        (f"{PCS}/tdx/certification/v4/tcb?fmspc={synth.FMSPC.hex()}&tcbEvaluationDataNumber=19",
         {"TCB-Info-Issuer-Chain": [q(collateral.tcb_info_issuer_chain)]},
         collateral.tcb_info_json.encode()),
        (f"{PCS}/tdx/certification/v4/qe/identity",
         {"SGX-Enclave-Identity-Issuer-Chain": [q(collateral.qe_identity_issuer_chain)]},
         collateral.qe_identity_json.encode()),
        (f"{PCS}/sgx/certification/v4/pckcrl?encoding=der&ca=platform",
         {"SGX-PCK-CRL-Issuer-Chain": [q(collateral.pck_crl_issuer_chain)]},
         collateral.pck_crl),
        (ROOT_CRL_URL, {}, collateral.root_crl),
    ]  # fmt: skip
    return [
        {"url": url, "headers": headers, "body_base64": base64.b64encode(body).decode()}
        for url, headers, body in captured
        if not drop or drop not in url
    ]


def _tdx_cpu(
    pki: synth.Pki,
    *,
    trailer: bytes = b"",
    tcb: Any = None,
    qe: Any = None,
    drop: str = "",
    body: dict[str, bytes] | None = None,
) -> Callable[[bytes], tuple[str, bytes, list[dict[str, Any]]]]:
    def cpu(report_data: bytes) -> tuple[str, bytes, list[dict[str, Any]]]:
        quote = synth.build_quote(pki, body={"report_data": report_data, **(body or {})})
        quote += trailer
        collateral = synth.build_collateral(pki, tcb=tcb, qe=qe)
        entry = {
            "id": "cpu-pcs",
            "role": "endorsement",
            "format": "https://tinfoil.sh/collateral/intel-pcs/v1",
            "subjects": ["cpu"],
            "data": {"responses": _responses(pki, collateral, drop)},
        }
        return CPU_TDX, quote, [entry]

    return cpu


def _verify(
    world: SimulatedWorld,
    pki: synth.Pki,
    *,
    artifact: dict[str, Any] | None = None,
    rtmrs: tuple[str, str] = (RTMR1, RTMR2),
    **cpu: Any,
) -> Any:
    material = V3Material.generate(
        world,
        witnessed_at=NOW - dt.timedelta(hours=1),
        artifact=artifact or _artifact(),
        rtmr1_2=rtmrs,
    )
    nonce = os.urandom(32)
    enclave = world.boot_enclave()
    document = material.document(enclave, nonce, cpu=_tdx_cpu(pki, **cpu))
    trust = Trust(
        amd=AmdTrust.unpinned_for_testing(world.ark_pem, world.ask_pem),
        sigstore=SigstoreTrust.from_trusted_root_json(world.trusted_root_json),
        intel=pki.trust(),
    )
    return verify_document(
        document,
        nonce=nonce,
        repository=DEFAULT_REPOSITORY,
        trust=trust,
        now=NOW,
        domain="tdx.test",
    )


@pytest.mark.parametrize("trailer", [b"", bytes(70)], ids=["exact", "zero-padded"])
def test_tdx_document_verifies(world: SimulatedWorld, pki: synth.Pki, trailer: bytes) -> None:
    result = _verify(world, pki, trailer=trailer)
    assert result.platform is Platform.TDX
    assert result.platform_policy == "tdx-test"
    assert result.hardware_measurement.registers == (MRTD, RTMR0, RTMR1, RTMR2, "00" * 48)
    assert any("platform small" in s.detail for s in result.steps)  # the shape-matching slug
    assert len(result.verifiers) == 2  # ours and the second TDX verdict


def _set_platform_status(status: str) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        body["tcbLevels"][0]["tcbStatus"] = status

    return edit


def _set_module_status(status: str) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        body["tdxModuleIdentities"][0]["tcbLevels"][0]["tcbStatus"] = status

    return edit


def _set_qe_status(status: str) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        body["tcbLevels"][0]["tcbStatus"] = status

    return edit


CASES: dict[str, tuple[dict[str, Any], Code, Step]] = {
    "platform SWHardeningNeeded": (
        {"tcb": _set_platform_status("SWHardeningNeeded")},
        Code.V3_QUOTE_TCB_NOT_UPTODATE,
        Step.HARDWARE,
    ),
    "module OutOfDate": (
        {"tcb": _set_module_status("OutOfDate")},
        Code.V3_QUOTE_TCB_NOT_UPTODATE,
        Step.HARDWARE,
    ),
    "QE ConfigurationNeeded": (
        {"qe": _set_qe_status("ConfigurationNeeded")},
        Code.V3_QUOTE_TCB_NOT_UPTODATE,
        Step.HARDWARE,
    ),
    "non-zero trailer after the signed data": (
        {"trailer": bytes(8) + b"\x01"},
        Code.V3_QUOTE_REPORT_FORMAT,
        Step.HARDWARE,
    ),
    "missing TCB info capture": (
        {"drop": "/tcb?"},
        Code.V3_QUOTE_PCS_MISSING_CAPTURE,
        Step.HARDWARE,
    ),
    "another MR_SEAM in the signed policy": (
        {"artifact": _artifact(_policy(mr_seam="ab" * 48))},
        Code.V3_POLICY_TDX_FIELD,
        Step.POLICY,
    ),
    "PPID not endorsed": (
        {"artifact": _artifact(machines={"08" * 16: "tdx-test"})},
        Code.V3_POLICY_NOT_ENDORSED,
        Step.POLICY,
    ),
    "no platform of the code's shape": (
        {"artifact": _artifact(_policy(platform_measurements=["other-shape"]))},
        Code.V3_POLICY_SHAPE_NO_MATCH,
        Step.POLICY,
    ),
    "RTMR0 not endorsed": (
        {"body": {"rtmrs": b"\x99" * 48 + b"\x33" * 48 + b"\x44" * 48 + bytes(48)}},
        Code.V3_POLICY_PLATFORM_MEASUREMENT,
        Step.POLICY,
    ),
    "RTMR1 not the code's": (
        {"rtmrs": ("55" * 48, RTMR2)},
        Code.V3_POLICY_MEASUREMENT,
        Step.POLICY,
    ),
    "evaluation number floor": (
        {"artifact": _artifact(_policy(minimum_tcb_evaluation_data_number=20))},
        Code.V3_POLICY_EVAL_NUMBER,
        Step.POLICY,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tdx_rejections(world: SimulatedWorld, pki: synth.Pki, name: str) -> None:
    kwargs, code, step = CASES[name]
    with pytest.raises(AttestationError) as info:
        _verify(world, pki, **kwargs)
    assert (info.value.code, info.value.step) == (code, step), str(info.value)


def test_a_list_of_mr_seams_is_not_an_allowlist(world: SimulatedWorld, pki: synth.Pki) -> None:
    policy = _policy(mr_seam=[MR_SEAM_TDX_2_0_08.hex(), "ab" * 48])
    with pytest.raises(AttestationError) as info:
        _verify(world, pki, artifact=_artifact(policy))
    assert (info.value.code, info.value.step) == (Code.V3_PROV_ARTIFACT_INVALID, Step.ENDORSEMENT)


def test_replay_key_ignores_the_evaluation_number_and_parameter_order() -> None:
    a = replay_key(f"{PCS}/sgx/certification/v4/pckcrl?ca=platform&encoding=der")
    b = replay_key(
        f"{PCS.upper()}/sgx/certification/v4/pckcrl?encoding=der&ca=platform&tcbEvaluationDataNumber=19"
    )
    assert a == b
