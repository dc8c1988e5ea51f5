"""The simulated enclave's v3 attestation documents (nonce-bound), with their own roots.

`V3Material.generate(world)` signs, with the world's simulated Sigstore, what a v3 enclave
carries: a code release of the router (multiplatform predicate with `vm_shape`), a
platform-endorsements release whose `machines` map endorses the world's chip under an
`amd-genoa-simulated` policy that the simulated reports satisfy, and one freshness witness
for each, witnessed at `witnessed_at`. `document(enclave, nonce)` then builds the document a
v3 enclave answers `GET /.well-known/tinfoil-attestation?nonce=` with: a fresh report signed
by the world's VCEK whose REPORT_DATA derives from the nonce and the two sections, the VCEK
and an ARK-signed CRL, and the four bundles.

The production verifier accepts these only with `SimulatedWorld.trust()`, passed explicitly.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from privproxy.simulator.fulcio import WorkflowIdentity
from privproxy.simulator.report import ReportFields, build_report
from privproxy.simulator.sigstore_material import in_toto_statement
from privproxy.simulator.world import (
    DEFAULT_REPOSITORY,
    SUBJECT_NAME,
    EnclaveInstance,
    SimulatedWorld,
    spki_sha256,
)

DOCUMENT_FORMAT: Final = "https://tinfoil.sh/predicate/attestation/v3"
REPORT_DATA_V1: Final = "https://tinfoil.sh/report-data/v1"
MULTIPLATFORM: Final = "https://tinfoil.sh/predicate/snp-tdx-multiplatform/v1"
PLATFORM_PREDICATE: Final = "https://tinfoil.sh/predicate/platform-endorsements/v1"
WITNESS_PREDICATE: Final = "https://tinfoil.sh/predicate/freshness-witness/v1"
_COLL: Final = "https://tinfoil.sh/collateral/"
CODE_TAG: Final = "v0.0.141-simulated"
PLATFORM_TAG: Final = "v0.0.9-simulated"
POLICY_NAME: Final = "amd-genoa-simulated"
VM_SHAPE: Final = {"cpus": 8, "memory_mb": 16384, "gpus": 0, "disks": 3}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class SignedArtifact:
    """A signed release (code or platform) and the witness that it is current."""

    repo: str
    tag: str
    digest: str
    subject_name: str
    bundle: dict[str, Any]
    witness: dict[str, Any]


def genoa_policy() -> dict[str, Any]:
    """The signed SEV-SNP policy the simulated reports satisfy (production Genoa values)."""
    tcb = {"bl_spl": 7, "tee_spl": 0, "snp_spl": 14, "ucode_spl": 72}
    return {
        "platform": "sev-snp",
        "sev_snp": {
            "minimum_build": 21,
            "minimum_api_version": "1.55",
            "minimum_abi_version": "0.0",
            "minimum_guest_svn": 0,
            "minimum_tcb": tcb,
            "minimum_launch_tcb": dict(tcb),
            "guest_policy": {"debug": False, "smt": True, "migrate_ma": False},
            "platform_info": {
                "smt_enabled": True,
                "tsme_enabled": True,
                "ecc_enabled": True,
                "alias_check_complete": True,
            },
            "permit_provisional_firmware": False,
            "vmpl": 0,
            "host_data": "00" * 32,
            "image_id": "00" * 16,
            "family_id": "00" * 16,
            "minimum_launch_mitigation_vector": 0,
            "minimum_current_mitigation_vector": 0,
        },
    }


def _witness(
    world: SimulatedWorld,
    *,
    repo: str,
    tag: str,
    commit: str,
    subject: str,
    digest: str,
    at: dt.datetime,
) -> dict[str, Any]:
    statement = in_toto_statement(
        subject_name=subject,
        digest=digest,
        predicate_type=WITNESS_PREDICATE,
        predicate={
            "format": WITNESS_PREDICATE,
            "endorses": {
                "repo": repo,
                "tag": tag,
                "commit": commit,
                "subject": {"name": subject, "digest": f"sha256:{digest}"},
            },
        },
    )
    identity = WorkflowIdentity(
        repository="tinfoilsh/freshness-witness",
        ref="refs/heads/main",
        workflow_path=".github/workflows/freshness.yml",
        workflow_name="freshness",
        event="workflow_dispatch",
    )
    # Rekor integrates five seconds after signing: that log time is the witness time.
    return world.sigstore.sign_statement(
        statement, identity=identity, signed_at=at - dt.timedelta(seconds=5)
    )


@dataclass(frozen=True, slots=True, eq=False)
class V3Material:
    """The Sigstore-signed reference values every simulated v3 document carries."""

    world: SimulatedWorld
    code: SignedArtifact
    platform: SignedArtifact
    crl_der: bytes
    witnessed_at: dt.datetime

    @classmethod
    def generate(
        cls,
        world: SimulatedWorld,
        *,
        witnessed_at: dt.datetime | None = None,
        endorse_chip: bool = True,
        artifact: dict[str, Any] | None = None,
        rtmr1_2: tuple[str, str] = ("11" * 48, "22" * 48),
    ) -> V3Material:
        """Sign both releases and their witnesses (witnessed at `witnessed_at`, default now).

        `artifact` replaces the platform-endorsements artifact (e.g. TDX machines/policies);
        `rtmr1_2` are the code release's TDX registers (hex).
        """
        at = (witnessed_at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        signed_at = world.created - dt.timedelta(hours=1)
        code_id = WorkflowIdentity(
            repository=DEFAULT_REPOSITORY,
            ref=f"refs/tags/{CODE_TAG}",
            workflow_path=".github/workflows/tinfoil-release-publish.yml",
        )
        code_predicate = {
            "snp_measurement": world.release.measurement.hex(),
            "tdx_measurement": {"rtmr1": rtmr1_2[0], "rtmr2": rtmr1_2[1]},
            "vm_shape": dict(VM_SHAPE),
        }
        code_digest = hashlib.sha256(_compact(code_predicate)).hexdigest()
        code_statement = in_toto_statement(
            subject_name=SUBJECT_NAME,
            digest=code_digest,
            predicate_type=MULTIPLATFORM,
            predicate=code_predicate,
        )
        code_bundle = world.sigstore.sign_statement(
            code_statement, identity=code_id, signed_at=signed_at
        )
        machines = {world.vcek.hwid.hex(): POLICY_NAME} if endorse_chip else {}
        if artifact is None:
            artifact = {
                "format": PLATFORM_PREDICATE,
                "measurements": {},
                "machines": machines,
                "policies": {POLICY_NAME: genoa_policy()},
            }
        platform_digest = hashlib.sha256(_compact(artifact)).hexdigest()
        platform_id = WorkflowIdentity(
            repository="tinfoilsh/platform-endorsements",
            ref=f"refs/tags/{PLATFORM_TAG}",
            workflow_path=".github/workflows/build.yml",
        )
        platform_statement = in_toto_statement(
            subject_name="platform-endorsements.json",
            digest=platform_digest,
            predicate_type=PLATFORM_PREDICATE,
            predicate=artifact,
        )
        platform_bundle = world.sigstore.sign_statement(
            platform_statement, identity=platform_id, signed_at=signed_at
        )
        code = SignedArtifact(
            DEFAULT_REPOSITORY,
            CODE_TAG,
            code_digest,
            SUBJECT_NAME,
            code_bundle,
            _witness(
                world,
                repo=DEFAULT_REPOSITORY,
                tag=CODE_TAG,
                commit=code_id.sha,
                subject=SUBJECT_NAME,
                digest=code_digest,
                at=at,
            ),
        )
        platform = SignedArtifact(
            "tinfoilsh/platform-endorsements",
            PLATFORM_TAG,
            platform_digest,
            "platform-endorsements.json",
            platform_bundle,
            _witness(
                world,
                repo="tinfoilsh/platform-endorsements",
                tag=PLATFORM_TAG,
                commit=platform_id.sha,
                subject="platform-endorsements.json",
                digest=platform_digest,
                at=at,
            ),
        )
        crl = world.amd.crl_der(now=world.created)
        return cls(world=world, code=code, platform=platform, crl_der=crl, witnessed_at=at)

    @property
    def freshness_deadline(self) -> dt.datetime:
        """When documents carrying these witnesses stop verifying (witness time + 7 days)."""
        return self.witnessed_at + dt.timedelta(days=7)

    def sev_evidence(self, report_data: bytes) -> tuple[str, bytes, list[dict[str, Any]]]:
        """The world's CPU evidence for `report_data`: format, signed report, collateral."""
        world = self.world
        fields = ReportFields(
            report_data=report_data,
            measurement=world.release.measurement,
            chip_id=world.vcek.hwid,
            tcb=world.vcek.tcb,
        )
        report = build_report(fields, world.vcek.private_key)
        chain = world.amd.cert_chain_pem().decode("ascii")
        entries: list[dict[str, Any]] = [
            {
                "id": "cpu-endorsement",
                "role": "endorsement",
                "format": _COLL + "amd-vcek/v1",
                "subjects": ["cpu"],
                "data": {"vcek_der_base64": _b64(world.vcek.der()), "cert_chain_pem": chain},
            },
            {
                "id": "cpu-crl",
                "role": "endorsement",
                "format": _COLL + "amd-crl/v1",
                "subjects": ["cpu"],
                "data": {"crl_der_base64": _b64(self.crl_der)},
            },
        ]
        return "https://tinfoil.sh/format/sev-snp-report/v1", report, entries

    def reference_values(self) -> list[dict[str, Any]]:
        """The four Sigstore collateral entries (code, platform and their witnesses)."""
        entries: list[dict[str, Any]] = []
        for ident, kind, art in (
            ("code", "code", self.code),
            ("platform", "platform", self.platform),
        ):
            entries.append(
                {
                    "id": ident,
                    "role": "reference-values",
                    "format": _COLL + f"sigstore-{kind}/v1",
                    "data": {
                        "repo": art.repo,
                        "tag": art.tag,
                        "digest": art.digest,
                        "sigstore_bundle": art.bundle,
                    },
                }
            )
            entries.append(
                {
                    "id": f"{ident}-freshness",
                    "role": "reference-values",
                    "format": _COLL + "sigstore-freshness/v1",
                    "data": {"sigstore_bundle": art.witness},
                }
            )
        return entries

    def document(
        self,
        enclave: EnclaveInstance,
        nonce: bytes,
        *,
        cpu: Callable[[bytes], tuple[str, bytes, list[dict[str, Any]]]] | None = None,
    ) -> bytes:
        """The v3 document `enclave` serves for `nonce` (a fresh signed report each time).

        `cpu(report_data)` supplies other CPU evidence (format, quote, collateral entries).
        """
        crypto = _compact(
            {
                "format": "https://tinfoil.sh/crypto-material/v1",
                "items": [
                    {
                        "id": "tls",
                        "format": "https://tinfoil.sh/key/spki-fp-sha256/v1",
                        "data": spki_sha256(enclave.tls_private_key.public_key()).hex(),
                    },
                    {
                        "id": "hpke",
                        "format": "https://tinfoil.sh/key/x25519-hpke/v1",
                        "data": enclave.hpke_public_key.hex(),
                    },
                ],
            }
        )
        devices = _compact({"format": "https://tinfoil.sh/device-evidence/v1", "items": []})
        cm_hash, de_hash = hashlib.sha256(crypto).digest(), hashlib.sha256(devices).digest()
        ladder = hashlib.sha256(REPORT_DATA_V1.encode() + nonce + cm_hash + de_hash).digest()
        report_data = ladder + bytes(32)
        cpu_format, report, cpu_collateral = (cpu or self.sev_evidence)(report_data)
        document = {
            "format": DOCUMENT_FORMAT,
            "challenge": {
                "nonce": nonce.hex(),
                "report_data": report_data.hex(),
                "report_data_algorithm": REPORT_DATA_V1,
            },
            "cpu_evidence": {
                "format": cpu_format,
                "report_base64": _b64(report),
                "endorsed": {
                    "crypto_material_hash": cm_hash.hex(),
                    "device_evidence_hash": de_hash.hex(),
                },
            },
            "crypto_material": _b64(crypto),
            "device_evidence": _b64(devices),
            "collateral": [*cpu_collateral, *self.reference_values()],
        }
        return _compact(document)


@functools.cache
def shared_v3(world: SimulatedWorld) -> V3Material:
    """One set of v3 reference values per world (signing them costs a few milliseconds)."""
    return V3Material.generate(world)


__all__ = ["POLICY_NAME", "SignedArtifact", "V3Material", "genoa_policy", "shared_v3"]
