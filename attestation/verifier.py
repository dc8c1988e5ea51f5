"""`verify_bundle`: the whole verification of one attestation bundle, offline.

The pipeline (numbers are used as labels below; fetching happens before, in
:class:`attestation.Attestor`, and ``verify_bundle`` only sees bytes; V<n> are the sections of
docs/attestation.md, "Verification steps"):

    (1) parse          — bundle.py (strict JSON, base64, gzip cap) + sev/abi.py (report format)
    (2) hardware       — SEV-SNP: sev/certs.py ARK→ASK→VCEK at `now`, VCEK TCB/HWID,
                         sev/verify.py report signature, sev/validate.py policy (V2);
                         TDX: attestation.tdx.verify_tdx_evidence with injected collateral (V3)
    (3) provenance     — attestation.provenance.verify_provenance: Sigstore bundle signed by the
                         repository's tag workflow, subject == bundle digest (V4)
    (4) measurements   — measurements.compare_measurements code vs hardware (V5); for TDX also
                         hardware_measurements.match_hardware on MRTD/RTMR0 (V4.3)
    (5) key binding    — keys.py: HPKE key = report_data[32:64]; enclaveCert SANs cover the
                         domain, hpke/hatt SANs decode to the key and document hash;
                         sha256(SPKI of enclaveCert) == report_data[0:32] (V6)

Every failure raises an :class:`attestation.errors.AttestationError` whose ``step`` and
``code`` name the failing check. A :class:`VerifiedEnclave` is built only when all passed.

What the caller must still do: seal requests only to ``VerifiedEnclave.hpke_public_key``, send
them to ``domain``, and re-verify when the enclave rejects the key. The enclave TLS
certificate's validity dates are not checked (see keys.py for why).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attestation.bundle import AttestationBundle, parse_bundle
from attestation.errors import BundleError, Code, ProvenanceError, Step, TrustError
from attestation.keys import split_report_data, verify_enclave_certificate
from attestation.measurements import compare_measurements
from attestation.models import Measurement, Platform, StepResult, VerifiedEnclave
from attestation.policy import Policy
from attestation.sdk import sdk_label
from attestation.sev import parse_report, verify_sev_report
from attestation.trust import Trust

if TYPE_CHECKING:
    from attestation.hardware_measurements import HardwarePlatform
    from attestation.tdx import TdxCollateral

StepCallback = Callable[[StepResult], None]


class StepLog:
    """The passed steps of one verification, reported to ``on_step`` as they pass."""

    def __init__(self, on_step: StepCallback | None) -> None:
        self.steps: list[StepResult] = []
        self._on_step = on_step

    def passed(self, step: Step, detail: str) -> None:
        result = StepResult(step=step, ok=True, detail=detail)
        self.steps.append(result)
        if self._on_step is not None:
            self._on_step(result)


def _hardware(
    bundle: AttestationBundle,
    *,
    policy: Policy,
    trust: Trust,
    now: dt.datetime,
    tdx_collateral: TdxCollateral | None,
    vcek_der: bytes | None,
) -> tuple[Measurement, bytes, dict[str, int], str, tuple[str, ...]]:
    """Step (2). Returns (hardware measurement, report_data, tcb, detail, verifiers)."""
    if bundle.platform is Platform.SEV_SNP:
        report = parse_report(bundle.evidence)  # format errors belong to step (1) and were raised
        vcek = bundle.vcek_der or vcek_der
        if not vcek:
            raise BundleError(Code.BUNDLE_MALFORMED, "SEV-SNP bundle has no VCEK")
        sev = verify_sev_report(report, vcek, policy=policy.sev, trust=trust.amd, now=now)
        tcb = report.current_tcb.components()
        detail = f"SEV-SNP {sev.product.value} report v{report.version} signed by VCEK; policy ok"
        return sev.measurement, sev.report_data, tcb, detail, (f"{sdk_label()} accepted",)
    from attestation.tdx import verify_tdx_evidence

    if tdx_collateral is None:
        raise TrustError(Code.TRUST_ROOT_INVALID, "TDX evidence needs Intel collateral")
    tdx = verify_tdx_evidence(
        bundle.evidence,
        collateral=tdx_collateral,
        policy=policy.tdx,
        trust=trust.require_intel(),
        now=now,
    )
    detail = f"TDX quote verified ({tdx.qv_result}); " + "; ".join(tdx.verifiers)
    return tdx.measurement, tdx.report_data, dict(tdx.tcb), detail, tdx.verifiers


def verify_bundle(
    bundle: bytes,
    *,
    policy: Policy,
    trust: Trust,
    now: dt.datetime,
    tdx_collateral: TdxCollateral | None = None,
    hardware_platforms: Sequence[HardwarePlatform] | None = None,
    on_step: StepCallback | None = None,
    vcek_der: bytes | None = None,
) -> VerifiedEnclave:
    """Verify an attestation bundle (bytes of ``/private/attestation``) at time ``now``.

    ``tdx_collateral`` and ``hardware_platforms`` are needed only for TDX evidence;
    ``vcek_der`` only for an SEV-SNP bundle that carries no VCEK of its own.
    ``on_step`` is called with each passed step as it completes (for progress display).
    CPU-bound; async callers use :meth:`attestation.Attestor.verify`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    log = StepLog(on_step)
    passed = log.passed

    # (1) parse
    parsed = parse_bundle(bundle)
    if parsed.platform is Platform.SEV_SNP:
        parse_report(parsed.evidence)
    passed(Step.PARSE, f"{parsed.platform.value} bundle for {parsed.domain}")

    # (2) hardware
    hw_measurement, report_data, tcb, detail, verifiers = _hardware(
        parsed,
        policy=policy,
        trust=trust,
        now=now,
        tdx_collateral=tdx_collateral,
        vcek_der=vcek_der,
    )
    passed(Step.HARDWARE, detail)

    # (3) provenance
    from attestation.provenance import verify_provenance  # lazy: sigstore imports are slow

    provenance = verify_provenance(
        parsed.sigstore_bundle_json,
        expected_digest=parsed.digest,
        policy=policy.sigstore,
        trust=trust.require_sigstore(),
    )
    if (
        parsed.release_tag is not None
        and provenance.workflow_ref != f"refs/tags/{parsed.release_tag}"
    ):
        raise ProvenanceError(
            Code.WORKFLOW_REF_PREFIX_MISMATCH,
            f"bundle releaseTag {parsed.release_tag!r} is not the signing workflow ref",
        )
    passed(
        Step.PROVENANCE,
        f"{provenance.repository} release {parsed.digest[:16]}…"
        f" signed by {provenance.workflow_ref}",
    )

    # (4) measurements
    compare_measurements(provenance.measurement, hw_measurement)
    detail = f"code measurement == enclave measurement {hw_measurement.fingerprint()[:16]}…"
    if parsed.platform is Platform.TDX:
        from attestation.hardware_measurements import match_hardware

        if hardware_platforms is None:
            raise TrustError(Code.TRUST_ROOT_INVALID, "TDX evidence needs hardware measurements")
        platform = match_hardware(hardware_platforms, hw_measurement)
        detail += f"; hardware platform {platform.id}"
    passed(Step.MEASUREMENT, detail)

    # (5) key binding
    keys = split_report_data(report_data)
    verify_enclave_certificate(
        parsed.enclave_cert_pem, domain=parsed.domain, keys=keys, document_hash=parsed.document_hash
    )
    passed(
        Step.KEY_BINDING, f"HPKE key {keys.hpke_public_key.hex()[:16]}… bound to report and cert"
    )

    return VerifiedEnclave(
        domain=parsed.domain,
        platform=parsed.platform,
        hardware_measurement=hw_measurement,
        code_measurement=provenance.measurement,
        release_digest=parsed.digest,
        repository=provenance.repository,
        hpke_public_key=keys.hpke_public_key,
        tls_key_fingerprint=keys.tls_key_fingerprint.hex(),
        verified_at=now,
        tcb=tcb,
        steps=tuple(log.steps),
        verifiers=verifiers,
    )


__all__ = ["StepCallback", "StepLog", "verify_bundle"]
