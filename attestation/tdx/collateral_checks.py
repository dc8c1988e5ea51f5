"""Collateral checks against the quote's PCK chain, in a fixed order
(docs/attestation.md V3.3 steps 2–8).

Order (each step raises its own code; the first failure wins):

1. parse TCB Info and QE Identity (ids, versions), load both CRLs;
2. freshness at the injected time: TCB Info, QE Identity, PCK CRL, root CRL;
3. tcbEvaluationDataNumber of both documents ≥ the policy minimum;
4. CRL signatures: root CRL by the pinned root, PCK CRL by the PCK leaf's own (already
   verified) intermediate CA, each with the expected issuer name;
5. revocation of the PCK leaf (PCK CRL) and of the PCK intermediate (root CRL);
6. TCB Info issuer chain and signature over the exact raw span, signer not revoked;
7. QE Identity issuer chain and signature, signer not revoked;
8. FMSPC / PCEID of the PCK leaf equal those of the TCB Info.

A missing issuer chain cannot be replaced by anything we hold, so it fails the signature step
of that document (TCB_INFO_CHAIN_INVALID / QE_IDENTITY_SIGNATURE_INVALID). The PCK CRL needs no
separate chain: its issuer is the PCK intermediate the quote's chain already proved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from attestation.errors import Code, HardwareError
from attestation.tdx.certs import (
    TCB_SIGNING_CN,
    ChainCodes,
    PckExtensions,
    common_name,
    load_pem_chain,
    verify_chain,
)
from attestation.tdx.collateral import (
    QeIdentity,
    SignedDocument,
    TcbInfo,
    parse_qe_identity,
    parse_tcb_info,
)
from attestation.tdx.models import TdxCollateral
from attestation.tdx.trust import IntelTrust
from attestation.tdx.verify import ecdsa_p256_valid

MAX_CRL_SIZE = 1 << 20

TCB_INFO_CHAIN_CODES = ChainCodes(
    invalid=Code.TCB_INFO_CHAIN_INVALID,
    untrusted_root=Code.TCB_INFO_CHAIN_INVALID,
    expired=Code.TCB_INFO_CHAIN_INVALID,
    incomplete=Code.TCB_INFO_CHAIN_INVALID,
)
# The taxonomy has no QE-identity chain code; a QE Identity whose signer does not chain to the
# Intel root carries no valid Intel signature.
QE_IDENTITY_CHAIN_CODES = ChainCodes(
    invalid=Code.QE_IDENTITY_SIGNATURE_INVALID,
    untrusted_root=Code.QE_IDENTITY_SIGNATURE_INVALID,
    expired=Code.QE_IDENTITY_SIGNATURE_INVALID,
    incomplete=Code.QE_IDENTITY_SIGNATURE_INVALID,
)


@dataclass(frozen=True, slots=True)
class VerifiedCollateral:
    """Collateral whose signatures, freshness and revocation status were checked."""

    tcb_info: TcbInfo
    qe_identity: QeIdentity


def load_crl(der: bytes, code: Code, what: str) -> x509.CertificateRevocationList:
    """Parse a DER CRL (bounded); failure is `code`."""
    if len(der) > MAX_CRL_SIZE:
        raise HardwareError(code, f"{what} exceeds {MAX_CRL_SIZE} bytes")
    try:
        return x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise HardwareError(code, f"{what} does not parse: {exc}") from exc


def _check_fresh(
    issued: dt.datetime | None,
    next_update: dt.datetime | None,
    now: dt.datetime,
    code: Code,
    what: str,
) -> None:
    """``issued <= now <= next_update``: a document from the future is no more current than an
    expired one (a wrong clock or a forged date), so both fail with the freshness code."""
    if next_update is None or now > next_update:
        raise HardwareError(code, f"{what} expired (nextUpdate {next_update}, now {now})")
    if issued is None or issued > now:
        raise HardwareError(code, f"{what} is not yet valid (issued {issued}, now {now})")


def check_crl_signed(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, code: Code, what: str
) -> None:
    """The CRL names `issuer` and verifies under its key."""
    key = issuer.public_key()
    if crl.issuer != issuer.subject or not isinstance(key, ec.EllipticCurvePublicKey):
        raise HardwareError(code, f"{what} is not issued by {issuer.subject.rfc4514_string()}")
    if not crl.is_signature_valid(key):
        raise HardwareError(code, f"{what} signature does not verify")


def _not_revoked(crl: x509.CertificateRevocationList, cert: x509.Certificate, code: Code) -> None:
    if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        raise HardwareError(code, f"{cert.subject.rfc4514_string()} is revoked")


def verify_signed_document(
    doc: SignedDocument,
    chain_pem: str | None,
    *,
    trust: IntelTrust,
    now: dt.datetime,
    codes: ChainCodes,
    signature_code: Code,
    what: str,
) -> x509.Certificate:
    """Verify `doc`'s issuer chain (signer ‖ root) and its signature; return the signer."""
    if chain_pem is None:
        # Without its issuer chain the document cannot be authenticated, so no TCB verdict
        # (qv_result) can be reached at all: that is "terminal, unspecified", not a chain
        # that failed to verify (which would be `codes.incomplete` / `codes.invalid`).
        raise HardwareError(
            Code.QV_RESULT_TERMINAL_UNSPECIFIED,
            f"{what} issuer chain is missing: TCB evaluation cannot complete",
        )
    chain = load_pem_chain(chain_pem.encode(), codes)
    verify_chain(chain, length=2, trust=trust, now=now, codes=codes)
    # Any certificate the Intel root issued chains to it; only the TCB Signing certificate
    # may sign TCB Info and QE Identity (as in Intel's QVL), not e.g. a PCK CA.
    signer_cn = common_name(chain[0].subject)
    if signer_cn != TCB_SIGNING_CN:
        raise HardwareError(codes.invalid, f"{what} signer {signer_cn!r} is not {TCB_SIGNING_CN!r}")
    key = chain[0].public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not ecdsa_p256_valid(
        key, doc.signature, doc.signed_bytes
    ):
        raise HardwareError(signature_code, f"{what} signature does not verify")
    return chain[0]


@dataclass(frozen=True, slots=True)
class _Documents:
    """The four collateral documents, parsed (V3.3 step 1)."""

    tcb_info: TcbInfo
    qe_identity: QeIdentity
    pck_crl: x509.CertificateRevocationList
    root_crl: x509.CertificateRevocationList

    @classmethod
    def parse(cls, collateral: TdxCollateral) -> _Documents:
        return cls(
            tcb_info=parse_tcb_info(collateral.tcb_info_json),
            qe_identity=parse_qe_identity(collateral.qe_identity_json),
            pck_crl=load_crl(collateral.pck_crl, Code.PCK_CHAIN_INVALID, "PCK CRL"),
            root_crl=load_crl(collateral.root_crl, Code.PCK_CHAIN_INVALID, "root CA CRL"),
        )

    def check_fresh(self, now: dt.datetime) -> None:
        """Step 2, in the order TCB Info, QE Identity, PCK CRL, root CRL."""
        tcb, qe, pck_crl, root_crl = self.tcb_info, self.qe_identity, self.pck_crl, self.root_crl
        _check_fresh(tcb.issue_date, tcb.next_update, now, Code.TCB_INFO_EXPIRED, "TCB Info")
        _check_fresh(qe.issue_date, qe.next_update, now, Code.QE_IDENTITY_EXPIRED, "QE Identity")
        _check_fresh(
            pck_crl.last_update_utc, pck_crl.next_update_utc, now, Code.PCK_CRL_EXPIRED, "PCK CRL"
        )
        _check_fresh(
            root_crl.last_update_utc,
            root_crl.next_update_utc,
            now,
            Code.ROOT_CRL_EXPIRED,
            "root CA CRL",
        )

    def verify_signatures(
        self,
        collateral: TdxCollateral,
        *,
        trust: IntelTrust,
        now: dt.datetime,
        check_signer_revoked: bool,
    ) -> None:
        """Steps 6 and 7: TCB Info, then QE Identity (each signer checked against the root CRL
        right after its own signature when ``check_signer_revoked``)."""
        signed = (
            (
                self.tcb_info.doc,
                collateral.tcb_info_issuer_chain,
                TCB_INFO_CHAIN_CODES,
                Code.TCB_INFO_SIGNATURE_INVALID,
                "TCB Info",
            ),
            (
                self.qe_identity.doc,
                collateral.qe_identity_issuer_chain,
                QE_IDENTITY_CHAIN_CODES,
                Code.QE_IDENTITY_SIGNATURE_INVALID,
                "QE Identity",
            ),
        )
        for doc, chain_pem, codes, signature_code, what in signed:
            signer = verify_signed_document(
                doc,
                chain_pem,
                trust=trust,
                now=now,
                codes=codes,
                signature_code=signature_code,
                what=what,
            )
            if check_signer_revoked:
                _not_revoked(self.root_crl, signer, Code.INTERMEDIATE_REVOKED)


def verify_collateral(
    collateral: TdxCollateral,
    *,
    pck_chain: list[x509.Certificate],
    pck: PckExtensions,
    trust: IntelTrust,
    now: dt.datetime,
    min_evaluation_data_number: int,
) -> VerifiedCollateral:
    """Run V3.3 steps 1–8 against a verified leaf-first PCK chain (leaf, intermediate, root)."""
    leaf, intermediate, root = pck_chain
    docs = _Documents.parse(collateral)
    docs.check_fresh(now)

    for number, what in (
        (docs.tcb_info.evaluation_data_number, "TCB Info"),
        (docs.qe_identity.evaluation_data_number, "QE Identity"),
    ):
        if number < min_evaluation_data_number:
            raise HardwareError(
                Code.TCB_EVAL_DATA_NUMBER_TOO_LOW,
                f"{what} tcbEvaluationDataNumber {number} < {min_evaluation_data_number}",
            )

    check_crl_signed(docs.root_crl, root, Code.PCK_CHAIN_INVALID, "root CA CRL")
    check_crl_signed(docs.pck_crl, intermediate, Code.PCK_CHAIN_INVALID, "PCK CRL")
    _not_revoked(docs.pck_crl, leaf, Code.PCK_REVOKED)
    _not_revoked(docs.root_crl, intermediate, Code.INTERMEDIATE_REVOKED)

    docs.verify_signatures(collateral, trust=trust, now=now, check_signer_revoked=True)

    if pck.fmspc != docs.tcb_info.fmspc or pck.pce_id != docs.tcb_info.pce_id:
        raise HardwareError(
            Code.PCK_FMSPC_MISMATCH,
            f"PCK FMSPC/PCEID {pck.fmspc.hex()}/{pck.pce_id.hex()} != TCB Info "
            f"{docs.tcb_info.fmspc.hex()}/{docs.tcb_info.pce_id.hex()}",
        )
    return VerifiedCollateral(tcb_info=docs.tcb_info, qe_identity=docs.qe_identity)


PCK_CRL_CHAIN_CODES = ChainCodes(
    invalid=Code.PCK_CHAIN_INVALID,
    untrusted_root=Code.ROOT_CA_UNTRUSTED,
    expired=Code.PCK_CHAIN_INVALID,
    incomplete=Code.PCK_CHAIN_INVALID,
)


def verify_collateral_documents(
    collateral: TdxCollateral, *, fmspc: str, trust: IntelTrust, now: dt.datetime
) -> dt.datetime:
    """Check fetched collateral on its own (no quote): chains, signatures, freshness, FMSPC.

    Used by the collateral source before caching and again on every cache load. Returns the
    earliest ``nextUpdate`` of the four documents (when the collateral must be refreshed).
    The quote-bound checks (revocation of the quote's PCK, TCB levels) still run per quote.
    """
    docs = _Documents.parse(collateral)
    if docs.tcb_info.fmspc.hex() != fmspc.lower():
        raise HardwareError(
            Code.PCK_FMSPC_MISMATCH, f"TCB Info is for FMSPC {docs.tcb_info.fmspc.hex()}"
        )
    docs.check_fresh(now)
    docs.verify_signatures(collateral, trust=trust, now=now, check_signer_revoked=False)
    if collateral.pck_crl_issuer_chain is None:
        raise HardwareError(Code.PCK_CHAIN_INVALID, "PCK CRL issuer chain is missing")
    crl_chain = load_pem_chain(collateral.pck_crl_issuer_chain.encode(), PCK_CRL_CHAIN_CODES)
    verify_chain(crl_chain, length=2, trust=trust, now=now, codes=PCK_CRL_CHAIN_CODES)
    check_crl_signed(docs.pck_crl, crl_chain[0], Code.PCK_CHAIN_INVALID, "PCK CRL")
    check_crl_signed(docs.root_crl, crl_chain[1], Code.PCK_CHAIN_INVALID, "root CA CRL")
    updates = [docs.tcb_info.next_update, docs.qe_identity.next_update]
    updates += [
        d for d in (docs.pck_crl.next_update_utc, docs.root_crl.next_update_utc) if d is not None
    ]
    return min(updates)


__all__ = [
    "VerifiedCollateral",
    "check_crl_signed",
    "load_crl",
    "verify_collateral",
    "verify_collateral_documents",
    "verify_signed_document",
]
