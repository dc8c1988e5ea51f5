"""`verify_document`: the whole offline verification of one v3 attestation document.

Steps (each failure raises an :class:`AttestationError` with a ``V3_*`` code and its step):

    parse        strict schema, canonical sections; our nonce, section hashes, REPORT_DATA
    provenance   the code release (Sigstore, pinned repository, tag, vm_shape)
    freshness    the code release's witness, then (after endorsement) the platform's
    endorsement  the platform-endorsements release: measurements, machines, policies
    hardware     the CPU quote with the carried collateral (vendor roots, CRL, signature)
    policy       the machine is endorsed; its signed policy holds for the report
    key_binding  TLS fingerprint and HPKE key from the hash-bound crypto_material

GPU/device evidence is bound by its section hash only: nothing here verifies NVIDIA
evidence. The result is void at ``freshness_expires_at`` (earliest witness time + 7 days).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from attestation.errors import (
    AttestationError,
    Code,
    HardwareError,
    KeyBindingError,
    PolicyError,
    Step,
)
from attestation.models import (
    SEV_SNP_GUEST_V2,
    Measurement,
    Platform,
    VerifiedEnclave,
)
from attestation.sdk import sdk_label
from attestation.trust import Trust
from attestation.v3.binding import check_bindings
from attestation.v3.constants import (
    CODE_FRESHNESS_ID,
    CPU_SEV_SNP,
    CPU_TDX,
    KEY_TLS_SPKI_FP,
    KEY_X25519_HPKE,
    PLATFORM_FRESHNESS_ID,
)
from attestation.v3.document import Document, parse_document
from attestation.v3.endorsements import Endorsements, NamedPolicy
from attestation.v3.references import verify_code, verify_freshness, verify_platform
from attestation.v3.sev import AuthenticatedSev, authenticate_sev
from attestation.v3.sev_policy import validate_sev
from attestation.verifier import StepCallback, StepLog


@contextlib.contextmanager
def _step(step: Step) -> Iterator[None]:
    """Stamp failures inside the block with ``step`` (the layer is in the code already)."""
    try:
        yield
    except AttestationError as exc:
        if exc.code.value.startswith("V3_") and not exc.code.value.startswith("V3_POLICY_"):
            exc.step = step
        raise


def _key(doc: Document, ident: str, fmt: str, code: Code) -> bytes:
    item = next((i for i in doc.crypto_items if i.id == ident), None)
    if item is None or item.format != fmt:
        raise KeyBindingError(code, f"crypto_material has no {ident!r} item of {fmt}")
    return item.data


def check_endorsed(
    endorsements: Endorsements,
    sev: AuthenticatedSev,
    code_measurement: Measurement,
    report_data: bytes,
) -> NamedPolicy:
    """The machine's signed policy, after checking the report against it (POLICY layer)."""
    named = endorsements.policy_for(sev.identity)
    if named is None:
        raise PolicyError(Code.V3_POLICY_NOT_ENDORSED, f"chip {sev.identity[:16]}… is not endorsed")
    if named.platform != "sev-snp" or named.sev_snp is None:
        raise PolicyError(Code.V3_POLICY_PLATFORM_MISMATCH, f"policy {named.name} is not sev-snp")
    if len(code_measurement.registers) != 3:
        raise PolicyError(Code.V3_POLICY_CODE_MEASUREMENT, "code measurement has no SEV register")
    validate_sev(
        sev.report,
        sev.vcek_extensions.tcb,
        named.sev_snp,
        report_data=report_data,
        measurement=bytes.fromhex(code_measurement.registers[0]),
    )
    return named


def verify_document(
    document: bytes,
    *,
    nonce: bytes,
    repository: str,
    trust: Trust,
    now: dt.datetime,
    domain: str,
    on_step: StepCallback | None = None,
) -> VerifiedEnclave:
    """Verify a v3 document fetched with ``nonce`` at time ``now``.

    ``repository`` is the code repository the caller pins (the document's own claim is
    never trusted); ``domain`` is the enclave host the document was requested from.
    CPU-bound: async callers run it in a worker thread.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    log = StepLog(on_step)
    passed = log.passed

    with _step(Step.PARSE):
        doc = parse_document(document)
        report_data = check_bindings(doc, nonce)
    passed(
        Step.PARSE,
        f"v3 document; nonce, section hashes and REPORT_DATA {report_data[:8].hex()}… bound",
    )

    sigstore = trust.require_sigstore()
    with _step(Step.PROVENANCE):
        code = verify_code(doc, repository=repository, trust=sigstore)
    art = code.artifact
    passed(Step.PROVENANCE, f"{art.repo}@{art.tag} ({art.commit[:12]}) digest {art.digest[:16]}…")
    with _step(Step.FRESHNESS):
        code_deadline = verify_freshness(doc, CODE_FRESHNESS_ID, art, trust=sigstore, now=now)
    passed(Step.FRESHNESS, f"code witness fresh until {code_deadline:%FT%TZ}")
    with _step(Step.ENDORSEMENT):
        platform = verify_platform(doc, trust=sigstore)
    plat = platform.artifact
    passed(
        Step.ENDORSEMENT, f"{plat.repo}@{plat.tag}: {len(platform.endorsements.machines)} machines"
    )
    with _step(Step.FRESHNESS):
        plat_deadline = verify_freshness(doc, PLATFORM_FRESHNESS_ID, plat, trust=sigstore, now=now)
    deadline = min(code_deadline, plat_deadline)
    passed(Step.FRESHNESS, f"platform witness fresh; verification void at {deadline:%FT%TZ}")

    if doc.cpu_format == CPU_TDX:
        from attestation.v3.tdx import verify_tdx  # lazy: TDX modules only for TDX documents

        with _step(Step.HARDWARE):
            tdx = verify_tdx(
                doc,
                endorsements=platform.endorsements,
                code_measurement=code.measurement,
                shape=code.shape,
                report_data=report_data,
                trust=trust.require_intel(),
                now=now,
            )
        passed(Step.HARDWARE, "TDX quote verified with the carried Intel PCS collateral")
        passed(
            Step.POLICY,
            f"PPID endorsed as {tdx.policy.name}; platform {tdx.platform_measurement}; UpToDate",
        )
        named, platform_enum = tdx.policy, Platform.TDX
        hardware, tcb, verifiers = tdx.measurement, tdx.tcb, tdx.verifiers
    elif doc.cpu_format == CPU_SEV_SNP:
        with _step(Step.HARDWARE):
            sev = authenticate_sev(doc, trust=trust.amd, now=now)
        report = sev.report
        passed(
            Step.HARDWARE,
            f"SEV-SNP {report.product.value} report v{report.version} signed by VCEK; not revoked",
        )
        named = check_endorsed(platform.endorsements, sev, code.measurement, report_data)
        passed(Step.POLICY, f"chip endorsed as {named.name}; report satisfies it")
        platform_enum = Platform.SEV_SNP
        hardware = Measurement(SEV_SNP_GUEST_V2, (report.measurement.hex(),))
        tcb = report.current_tcb.components()
        verifiers = (f"{sdk_label()} accepted",)
    else:
        raise HardwareError(Code.V3_QUOTE_FORMAT_UNSUPPORTED, "unknown cpu_evidence format")

    with _step(Step.KEY_BINDING):
        tls = _key(doc, "tls", KEY_TLS_SPKI_FP, Code.V3_BIND_NO_TLS_KEY)
        hpke = _key(doc, "hpke", KEY_X25519_HPKE, Code.V3_BIND_NO_HPKE_KEY)
    passed(
        Step.KEY_BINDING,
        f"HPKE key {hpke.hex()[:16]}… and TLS fingerprint bound via crypto_material"
        f" ({len(doc.device_items)} device item(s) bound by hash only, not verified)",
    )
    return VerifiedEnclave(
        domain=domain,
        platform=platform_enum,
        hardware_measurement=hardware,
        code_measurement=code.measurement,
        release_digest=art.digest,
        repository=art.repo,
        hpke_public_key=hpke,
        tls_key_fingerprint=tls.hex(),
        verified_at=now,
        tcb=tcb,
        steps=tuple(log.steps),
        verifiers=verifiers,
        attestation_format="v3",
        freshness_expires_at=deadline,
        device_evidence_hash=doc.device_evidence_hash.hex(),
        device_items=len(doc.device_items),
        platform_policy=named.name,
    )


__all__ = ["check_endorsed", "verify_document"]
