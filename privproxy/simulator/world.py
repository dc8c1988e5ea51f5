"""A whole simulated attestation world: AMD chain, Sigstore, a release and booted enclaves.

`SimulatedWorld.generate()` creates, in memory and in well under a second:

* an AMD ARK/ASK chain and a VCEK for one simulated chip (`amd.py`);
* a simulated Sigstore instance and a signed release of `tinfoilsh/confidential-model-router`
  whose in-toto statement (subject `tinfoil-deployment.json`, predicate
  snp-tdx-multiplatform/v1) publishes the enclave measurement (`sigstore_material.py`).

`boot_enclave()` then "boots" an enclave of that release: fresh X25519 HPKE key and P-384
TLS key, a VCEK-signed SEV-SNP report whose report_data binds both (docs/protocol.md §2.3), the
enclave certificate with hpke/hatt SANs, and the attestation bundle (docs/protocol.md §2.1). Booting
again is a key rotation: same chain, same release, new keys.

Nothing is ever written to disk. The production verifier never trusts any of this: the
simulator's roots reach it only through `trust()`, which callers pass explicitly.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privproxy.simulator.amd import AmdChain, Vcek, generate_amd_chain
from privproxy.simulator.enclave_cert import build_enclave_cert
from privproxy.simulator.fulcio import WorkflowIdentity
from privproxy.simulator.report import GENOA_TCB, ReportFields, build_report
from privproxy.simulator.sigstore_material import SigstoreAuthority, in_toto_statement

if TYPE_CHECKING:
    from attestation.trust import Trust

SEV_SNP_GUEST_V2: Final = "https://tinfoil.sh/predicate/sev-snp-guest/v2"
SNP_TDX_MULTIPLATFORM_V1: Final = "https://tinfoil.sh/predicate/snp-tdx-multiplatform/v1"
DEFAULT_DOMAIN: Final = "enclave.simulated.invalid"
DEFAULT_REPOSITORY: Final = "tinfoilsh/confidential-model-router"
DEFAULT_TAG: Final = "v0.0.38-simulated"
SUBJECT_NAME: Final = "tinfoil-deployment.json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def spki_sha256(key: ec.EllipticCurvePublicKey) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo (report_data[0:32], docs/protocol.md §2.3)."""
    return hashlib.sha256(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


@dataclass(frozen=True, slots=True)
class Release:
    """A signed code release: the deployment document's digest and the Sigstore bundle."""

    digest: str  # sha256 hex of tinfoil-deployment.json
    measurement: bytes  # 48-byte SNP launch measurement the statement publishes
    statement: bytes  # the in-toto statement (DSSE payload)
    sigstore_bundle: dict[str, Any]
    identity: WorkflowIdentity


@dataclass(frozen=True, slots=True, eq=False)
class EnclaveInstance:
    """One booted enclave: its private keys and the bundle that attests them."""

    domain: str
    hpke_private_key: X25519PrivateKey = field(repr=False)
    tls_private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    report: bytes
    enclave_cert: x509.Certificate
    bundle: dict[str, Any]

    @property
    def hpke_public_key(self) -> bytes:
        """The raw 32-byte X25519 public key (report_data[32:64])."""
        return self.hpke_private_key.public_key().public_bytes_raw()

    @property
    def bundle_json(self) -> bytes:
        """The attestation bundle as `GET /private/attestation` serves it."""
        return json.dumps(self.bundle).encode()


def attestation_document(report: bytes) -> tuple[str, str]:
    """`(format, body)`: body = base64(gzip(report)) as in docs/protocol.md §2.1."""
    return SEV_SNP_GUEST_V2, _b64(gzip.compress(report, mtime=0))


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedWorld:
    """The simulated roots of trust plus one signed release; boots enclaves on demand."""

    created: dt.datetime
    domain: str
    amd: AmdChain
    vcek: Vcek
    sigstore: SigstoreAuthority
    release: Release

    @classmethod
    def generate(
        cls,
        *,
        now: dt.datetime | None = None,
        domain: str = DEFAULT_DOMAIN,
        repository: str = DEFAULT_REPOSITORY,
        ref: str = f"refs/tags/{DEFAULT_TAG}",
    ) -> SimulatedWorld:
        """Fresh chains, keys and a signed release. `now` anchors every validity window."""
        now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        amd = generate_amd_chain(now)
        vcek = amd.issue_vcek(hwid=os.urandom(64), tcb=GENOA_TCB, now=now)
        sigstore = SigstoreAuthority.generate(now)
        identity = WorkflowIdentity(repository=repository, ref=ref)
        release = _sign_release(sigstore, identity, measurement=os.urandom(48), now=now)
        return cls(
            created=now, domain=domain, amd=amd, vcek=vcek, sigstore=sigstore, release=release
        )

    def boot_enclave(
        self,
        *,
        signing_vcek: Vcek | None = None,
        release: Release | None = None,
        domain: str | None = None,
        **report_overrides: Any,
    ) -> EnclaveInstance:
        """Boot an enclave with fresh HPKE and TLS keys and build its attestation bundle.

        `signing_vcek` (default: this world's) signs the report and is shipped as `vcek`;
        pass another world's VCEK to produce a report signed by the wrong chain.
        `report_overrides` replace `ReportFields` values (e.g. `policy=...`) for
        rejection tests; `release` swaps the Sigstore material.
        """
        vcek = signing_vcek or self.vcek
        release = release or self.release
        domain = domain or self.domain
        hpke = X25519PrivateKey.generate()
        tls = ec.generate_private_key(ec.SECP384R1())
        fields = ReportFields(
            report_data=spki_sha256(tls.public_key()) + hpke.public_key().public_bytes_raw(),
            measurement=release.measurement,
            chip_id=vcek.hwid,
            tcb=vcek.tcb,
        )
        report = build_report(dataclasses.replace(fields, **report_overrides), vcek.private_key)
        fmt, body = attestation_document(report)
        cert = build_enclave_cert(
            domain=domain,
            tls_key=tls,
            hpke_public_key=hpke.public_key().public_bytes_raw(),
            attestation_hash_hex=hashlib.sha256((fmt + body).encode()).hexdigest(),
            now=self.created,
        )
        bundle = {
            "domain": domain,
            "enclaveAttestationReport": {"format": fmt, "body": body},
            "digest": release.digest,
            "sigstoreBundle": release.sigstore_bundle,
            "vcek": _b64(vcek.der()),
            "enclaveCert": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }
        return EnclaveInstance(
            domain=domain,
            hpke_private_key=hpke,
            tls_private_key=tls,
            report=report,
            enclave_cert=cert,
            bundle=bundle,
        )

    def sign_release(
        self, *, identity: WorkflowIdentity | None = None, measurement: bytes | None = None
    ) -> Release:
        """Another release signed by this world's Sigstore (e.g. from a different workflow)."""
        return _sign_release(
            self.sigstore,
            identity or self.release.identity,
            measurement=measurement if measurement is not None else self.release.measurement,
            now=self.created,
        )

    # -- trust material: handed to the verifier explicitly, never installed anywhere --

    @property
    def ark_pem(self) -> bytes:
        """The simulated ARK (PEM)."""
        return self.amd.ark.public_bytes(serialization.Encoding.PEM)

    @property
    def ask_pem(self) -> bytes:
        """The simulated ASK (PEM)."""
        return self.amd.ask.public_bytes(serialization.Encoding.PEM)

    @property
    def trusted_root_json(self) -> bytes:
        """The simulated Sigstore `trusted_root.json`."""
        return self.sigstore.trusted_root_json()

    def trust(self) -> Trust:
        """An `attestation.trust.Trust` holding exactly the simulator's roots.

        Built from the explicitly non-production constructors (`unpinned_for_testing`,
        `from_trusted_root_json`); pass it as the verifier's `trust=` argument.
        """
        from attestation.provenance.trust import SigstoreTrust
        from attestation.sev.roots import AmdTrust
        from attestation.trust import Trust

        return Trust(
            amd=AmdTrust.unpinned_for_testing(self.ark_pem, self.ask_pem),
            sigstore=SigstoreTrust.from_trusted_root_json(self.trusted_root_json),
        )


def _deployment_document(measurement: bytes, tag: str) -> bytes:
    # Stands in for the release's tinfoil-deployment.json; only its digest is ever checked.
    doc = {
        "name": "confidential-model-router (simulated)",
        "tag": tag,
        "snp_measurement": measurement.hex(),
    }
    return json.dumps(doc, indent=2).encode()


def _predicate(measurement: bytes, tag: str, now: dt.datetime) -> dict[str, Any]:
    config = (
        "shim-version: simulated\ncvm-version: simulated\ncpus: 8\nmemory: 16384\n"
        "containers:\n  - name: proxy\n    image: ghcr.io/tinfoilsh/confidential-model-router:"
        f"{tag}\n"
    )
    return {
        "snp_measurement": measurement.hex(),
        "tdx_measurement": {"rtmr1": os.urandom(48).hex(), "rtmr2": os.urandom(48).hex()},
        "cmdline": "readonly=on simulated=1",
        "hashes": {
            "version": tag,
            "root": os.urandom(32).hex(),
            "initrd": os.urandom(32).hex(),
            "kernel": os.urandom(32).hex(),
            "raw": os.urandom(32).hex(),
            "built_at": (now - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "config": _b64(config.encode()),
    }


def _sign_release(
    sigstore: SigstoreAuthority, identity: WorkflowIdentity, *, measurement: bytes, now: dt.datetime
) -> Release:
    tag = identity.ref.rsplit("/", 1)[-1]
    digest = hashlib.sha256(_deployment_document(measurement, tag)).hexdigest()
    statement = in_toto_statement(
        subject_name=SUBJECT_NAME,
        digest=digest,
        predicate_type=SNP_TDX_MULTIPLATFORM_V1,
        predicate=_predicate(measurement, tag, now),
    )
    bundle = sigstore.sign_statement(
        statement, identity=identity, signed_at=now - dt.timedelta(hours=1)
    )
    return Release(
        digest=digest,
        measurement=measurement,
        statement=statement,
        sigstore_bundle=bundle,
        identity=identity,
    )


@functools.cache
def shared_world() -> SimulatedWorld:
    """One world per process (generation costs ~0.1 s; tests and the demo share it)."""
    return SimulatedWorld.generate()


__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_REPOSITORY",
    "EnclaveInstance",
    "Release",
    "SimulatedWorld",
    "attestation_document",
    "shared_world",
    "spki_sha256",
]
