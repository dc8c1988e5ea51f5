"""AMD SEV-SNP: parse (``abi``), chain (``certs``), signature (``verify``), policy (``validate``).

:func:`verify_sev_evidence` runs the four in that order and returns a
:class:`VerifiedSevReport`; it raises :class:`attestation.errors.AttestationError` otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from attestation.models import SEV_SNP_GUEST_V2, Measurement
from attestation.sev.abi import Product, SevReport, parse_report
from attestation.sev.certs import check_vcek_matches_report, load_vcek, verify_vcek_chain
from attestation.sev.policy import SevPolicy, TcbMinimum
from attestation.sev.roots import AmdTrust
from attestation.sev.validate import validate_report
from attestation.sev.verify import verify_report_signature


@dataclass(frozen=True, slots=True)
class VerifiedSevReport:
    """A report whose VCEK chain, signature and policy all passed."""

    report: SevReport
    vcek: x509.Certificate
    product: Product

    @property
    def measurement(self) -> Measurement:
        """The report's MEASUREMENT as a one-register sev-snp-guest/v2 measurement."""
        return Measurement(type=SEV_SNP_GUEST_V2, registers=(self.report.measurement.hex(),))

    @property
    def report_data(self) -> bytes:
        """REPORT_DATA (64 bytes): TLS key fingerprint then HPKE key (docs/attestation.md V6)."""
        return self.report.report_data


def verify_sev_evidence(
    report_raw: bytes,
    vcek_der: bytes,
    *,
    policy: SevPolicy,
    trust: AmdTrust,
    now: dt.datetime,
) -> VerifiedSevReport:
    """Verify a raw SEV-SNP report with its VCEK at time ``now`` (V2).

    Order: parse → ARK/ASK/VCEK chain at ``now`` → VCEK TCB/HWID vs report → report
    signature → report policy. The signature is checked before any policy or pin, so a
    tampered field is reported as REPORT_SIGNATURE_INVALID (fixture 221).
    """
    return verify_sev_report(
        parse_report(report_raw), vcek_der, policy=policy, trust=trust, now=now
    )


def verify_sev_report(
    report: SevReport,
    vcek_der: bytes,
    *,
    policy: SevPolicy,
    trust: AmdTrust,
    now: dt.datetime,
) -> VerifiedSevReport:
    """:func:`verify_sev_evidence` for an already parsed report."""
    chain = trust.chain_for(report.product)
    vcek = load_vcek(vcek_der)
    verify_vcek_chain(vcek, chain, now=now)
    check_vcek_matches_report(vcek, report)
    verify_report_signature(report, vcek)
    validate_report(report, policy)
    return VerifiedSevReport(report=report, vcek=vcek, product=report.product)


__all__ = [
    "AmdTrust",
    "Product",
    "SevPolicy",
    "SevReport",
    "TcbMinimum",
    "VerifiedSevReport",
    "parse_report",
    "verify_sev_evidence",
    "verify_sev_report",
]
