"""The real `attestation.verify_bundle` accepts simulated bundles only with the simulator's trust.

Each rejection case changes one thing through the simulator's own knobs (wrong chain, wrong
workflow, other measurement, debug policy) and asserts the step and code of the refusal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attestation.errors import AttestationError, Code, Step
from attestation.policy import Policy
from attestation.trust import Trust
from attestation.verifier import verify_bundle
from privproxy.simulator.fulcio import WorkflowIdentity
from privproxy.simulator.report import POLICY_DEBUG_BIT, POLICY_DEFAULT
from privproxy.simulator.world import EnclaveInstance, SimulatedWorld, shared_world
from tests.conftest import data_path


def _verify(world: SimulatedWorld, enclave: EnclaveInstance, trust: Trust | None = None) -> None:
    verify_bundle(
        enclave.bundle_json,
        policy=Policy.production(),
        trust=trust or world.trust(),
        now=world.created,
    )


def _refusal(
    world: SimulatedWorld, enclave: EnclaveInstance, trust: Trust | None = None
) -> AttestationError:
    with pytest.raises(AttestationError) as err:
        _verify(world, enclave, trust)
    return err.value


def test_production_policy_accepts_a_simulated_bundle_with_explicit_trust() -> None:
    world = shared_world()
    enclave = world.boot_enclave()
    verified = verify_bundle(
        enclave.bundle_json, policy=Policy.production(), trust=world.trust(), now=world.created
    )
    assert verified.hpke_public_key == enclave.hpke_public_key
    assert verified.domain == world.domain
    assert verified.repository == "tinfoilsh/confidential-model-router"
    assert verified.release_digest == world.release.digest
    assert verified.hardware_measurement.registers == (world.release.measurement.hex(),)
    assert [s.step for s in verified.steps] == [
        Step.PARSE,
        Step.HARDWARE,
        Step.PROVENANCE,
        Step.MEASUREMENT,
        Step.KEY_BINDING,
    ]


def test_pinned_amd_roots_refuse_the_simulated_chain() -> None:
    world = shared_world()
    genoa = data_path("trust", "amd", "Genoa_cert_chain.pem")
    production_amd = Trust.production(amd_chain_files=[genoa]).amd
    err = _refusal(world, world.boot_enclave(), world.trust().with_amd(production_amd))
    assert err.step is Step.HARDWARE
    assert err.code is Code.VCEK_CHAIN_INVALID


def test_production_sigstore_root_refuses_the_simulated_release() -> None:
    world = shared_world()
    trust = Trust(amd=world.trust().amd, sigstore=Trust.production().sigstore)
    err = _refusal(world, world.boot_enclave(), trust)
    assert err.step is Step.PROVENANCE


def test_report_signed_by_the_wrong_chain_is_refused() -> None:
    world, other = shared_world(), SimulatedWorld.generate()
    err = _refusal(world, world.boot_enclave(signing_vcek=other.vcek))
    assert (err.step, err.code) == (Step.HARDWARE, Code.VCEK_CHAIN_INVALID)


def test_debug_guest_policy_is_refused() -> None:
    world = shared_world()
    err = _refusal(world, world.boot_enclave(policy=POLICY_DEFAULT | POLICY_DEBUG_BIT))
    assert (err.step, err.code) == (Step.HARDWARE, Code.GUEST_POLICY_DEBUG_SET)


def test_release_from_another_repository_is_refused() -> None:
    world = shared_world()
    release = world.sign_release(identity=WorkflowIdentity(repository="attacker/router"))
    err = _refusal(world, world.boot_enclave(release=release))
    assert (err.step, err.code) == (Step.PROVENANCE, Code.WORKFLOW_REPOSITORY_MISMATCH)


def test_release_from_a_branch_is_refused() -> None:
    world = shared_world()
    release = world.sign_release(identity=WorkflowIdentity(ref="refs/heads/main"))
    err = _refusal(world, world.boot_enclave(release=release))
    assert (err.step, err.code) == (Step.PROVENANCE, Code.WORKFLOW_REF_PREFIX_MISMATCH)


def test_enclave_running_other_code_is_refused() -> None:
    world = shared_world()
    release = world.sign_release(measurement=bytes(48))
    enclave = world.boot_enclave(release=release, measurement=world.release.measurement)
    err = _refusal(world, enclave)
    assert (err.step, err.code) == (Step.MEASUREMENT, Code.MEASUREMENT_MISMATCH)


def test_only_the_demo_command_imports_the_simulator() -> None:
    """The simulator's roots can reach a verifier only through code that imports it."""
    root = Path(__file__).resolve().parents[2]
    importers = {
        str(path.relative_to(root))
        for package in ("privproxy", "attestation")
        for path in (root / package).rglob("*.py")
        if "simulator" not in path.relative_to(root).parts
        and re.search(r"^\s*(from|import)\s+privproxy\.simulator", path.read_text(), re.M)
    }
    assert importers == {"privproxy/cli/demo.py"}
