"""Intel TDX evidence in a v3 document: PCS responses replayed from the document, v3 policy.

The quote is verified by the v2 TDX pipeline (``attestation.tdx``: PCK chain to the pinned
Intel root, quote and QE signatures, collateral signatures and freshness, TCB evaluation, TD
fields), fed with collateral taken only from the document's captured Intel PCS responses (no
network) and with a :class:`TdxPolicy` built from the machine's signed v3 policy: exactly its
one MR_SEAM, its TD_ATTRIBUTES/XFAM/QE vendor/TEE_TCB_SVN floor/evaluation-number floor, and
**UpToDate only** for the platform, TDX module and QE levels (v2 accepts SWHardeningNeeded and
ConfigurationNeeded). The platform (MRTD, RTMR0) must be one of the policy's endorsed
measurements whose shape satisfies the code's ``vm_shape``; RTMR1/RTMR2 are the code's,
RTMR3 is zero. The machine identity is the PCK certificate's PPID.

No final-format TDX document from production has been available to test against: this path is
exercised with a synthetic Intel PKI only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

from cryptography import x509

from attestation.errors import AttestationError, Code, HardwareError, PolicyError
from attestation.models import Measurement
from attestation.tdx.abi import SIGNED_END, parse_quote
from attestation.tdx.certs import PCK_CHAIN_CODES, load_pem_chain, parse_pck_extensions, pck_ca_of
from attestation.tdx.collateral_checks import verify_collateral
from attestation.tdx.collateral_source import ROOT_CRL_URL
from attestation.tdx.evidence import verify_tdx_evidence
from attestation.tdx.models import PckCa, TdxCollateral
from attestation.tdx.policy import TdxPolicy
from attestation.tdx.tcb import module_level_status, qe_level_status
from attestation.tdx.trust import IntelTrust
from attestation.v3.constants import COLL_INTEL_PCS, CPU_SUBJECT, ROLE_ENDORSEMENT
from attestation.v3.document import Document, canonical_b64
from attestation.v3.endorsements import Endorsements, NamedPolicy, Shape

PCS: Final = "https://api.trustedservices.intel.com"
UP_TO_DATE: Final = "UpToDate"
_CAPTURE_MEMBERS: Final = frozenset({"url", "headers", "body_base64"})
_CHAIN_PEM: Final = re.compile(r"(-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\s*){2}")

# v2 TDX codes -> the v3 code for the same failure.
_CODES: Final = {
    **dict.fromkeys(
        (
            Code.PCK_CHAIN_INVALID,
            Code.PCK_CHAIN_INCOMPLETE,
            Code.ROOT_CA_UNTRUSTED,
            Code.PCK_EXPIRED,
            Code.TCB_INFO_CHAIN_INVALID,
        ),
        Code.V3_QUOTE_CHAIN,
    ),
    **dict.fromkeys(
        (Code.PCK_REVOKED, Code.INTERMEDIATE_REVOKED, Code.TCB_REVOKED), Code.V3_QUOTE_REVOKED
    ),
    **dict.fromkeys(
        (
            Code.QUOTE_SIGNATURE_INVALID,
            Code.QE_REPORT_SIGNATURE_INVALID,
            Code.AK_BINDING_INVALID,
            Code.AK_MISMATCH,
        ),
        Code.V3_QUOTE_SIGNATURE,
    ),
    **dict.fromkeys(
        (Code.PCK_CRL_EXPIRED, Code.ROOT_CRL_EXPIRED, Code.TCB_INFO_EXPIRED),
        Code.V3_QUOTE_CRL_WINDOW,
    ),
    **dict.fromkeys(
        (
            Code.QUOTE_FORMAT_UNSUPPORTED,
            Code.QUOTE_TRUNCATED,
            Code.ATTESTATION_KEY_TYPE_UNSUPPORTED,
            Code.WRONG_TEE_TYPE,
            Code.QE_VENDOR_UNKNOWN,
        ),
        Code.V3_QUOTE_REPORT_FORMAT,
    ),
    Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY: Code.V3_QUOTE_TCB_NOT_UPTODATE,
    # the independent second verifier (dcap-qvl) reached another verdict on the collateral
    Code.TDX_VERIFIER_DISAGREEMENT: Code.V3_QUOTE_TDX_COLLATERAL,
    Code.TCB_EVAL_DATA_NUMBER_TOO_LOW: Code.V3_POLICY_EVAL_NUMBER,
    Code.REPORT_DATA_MISMATCH: Code.V3_POLICY_REPORT_DATA,
    **dict.fromkeys(
        (
            Code.MR_SEAM_NOT_ALLOWED,
            Code.TD_ATTRIBUTES_DEBUG_SET,
            Code.TD_ATTRIBUTES_RESERVED_BIT_SET,
            Code.TD_ATTRIBUTES_MISMATCH,
            Code.XFAM_REQUIRED_BIT_CLEAR,
            Code.XFAM_FORBIDDEN_BIT_SET,
            Code.XFAM_MISMATCH,
            Code.MRTD_MISMATCH,
            Code.MR_CONFIG_ID_MISMATCH,
            Code.MR_OWNER_MISMATCH,
            Code.MR_OWNER_CONFIG_MISMATCH,
            Code.RTMR3_NONZERO,
            Code.TEE_TCB_SVN_BELOW_MINIMUM,
            Code.QE_VENDOR_ID_MISMATCH,
        ),
        Code.V3_POLICY_TDX_FIELD,
    ),
}


@dataclass(frozen=True, slots=True)
class VerifiedTdx:
    """A TDX quote verified against its machine's signed policy."""

    measurement: Measurement  # tdx-guest/v2: MRTD, RTMR0..3
    policy: NamedPolicy
    platform_measurement: str  # the endorsed slug that matched
    tcb: dict[str, int]
    verifiers: tuple[str, ...]  # every TDX verifier that accepted the quote, with versions


@dataclass(frozen=True, slots=True)
class _Capture:
    body: bytes
    headers: dict[str, list[str]]  # lowercase names


def replay_key(url: str) -> str:
    """How captures are matched: tcbEvaluationDataNumber dropped, query sorted, lowercased."""
    parts = urllib.parse.urlsplit(url)
    query = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k != "tcbEvaluationDataNumber"
    ]
    query.sort()
    path = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), "")
    )
    return path.lower()


def _quote(code: Code, message: str) -> HardwareError:
    return HardwareError(code, message)


def _check_crl_window(url: str, body: bytes, now: dt.datetime) -> None:
    try:
        crl = x509.load_der_x509_crl(body)
    except ValueError:
        try:
            crl = x509.load_pem_x509_crl(body)
        except ValueError as exc:
            if "crl" in url.lower():
                raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, f"{url}: not a CRL") from exc
            return  # not a CRL: nothing to check here
    next_update = crl.next_update_utc
    if next_update is None or not crl.last_update_utc <= now <= next_update:
        raise _quote(Code.V3_QUOTE_CRL_WINDOW, f"captured CRL {url} is not valid at {now:%FT%TZ}")


def _captures(doc: Document, now: dt.datetime) -> dict[str, _Capture]:
    entry = doc.find(ROLE_ENDORSEMENT, COLL_INTEL_PCS, subject=CPU_SUBJECT)
    if entry is None or set(entry.data) != {"responses"}:
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "no intel-pcs collateral for cpu")
    responses = entry.data["responses"]
    if not isinstance(responses, list):
        raise _quote(Code.V3_QUOTE_COLLATERAL_MISSING, "intel-pcs responses is not a list")
    out: dict[str, _Capture] = {}
    for i, raw in enumerate(responses):
        if not isinstance(raw, dict) or set(raw) - _CAPTURE_MEMBERS:
            raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, f"intel-pcs response {i} is malformed")
        url, headers, body_b64 = raw.get("url"), raw.get("headers") or {}, raw.get("body_base64")
        if (
            not isinstance(url, str)
            or not isinstance(body_b64, str)
            or not isinstance(headers, dict)
        ):
            raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, f"intel-pcs response {i} is malformed")
        if not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in headers.values()
        ):
            raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, f"intel-pcs response {i} headers")
        body = canonical_b64(body_b64, "body_base64", Code.V3_QUOTE_TDX_COLLATERAL)
        _check_crl_window(url, body, now)
        out[replay_key(url)] = _Capture(body, {k.lower(): v for k, v in headers.items()})
    return out


def _get(
    captures: dict[str, _Capture], url: str, chain_header: str | None
) -> tuple[bytes, str | None]:
    capture = captures.get(replay_key(url))
    if capture is None:
        raise _quote(Code.V3_QUOTE_PCS_MISSING_CAPTURE, f"no captured response for {url}")
    if chain_header is None:
        return capture.body, None
    values = capture.headers.get(chain_header.lower(), [])
    if len(values) != 1:
        raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, f"{url}: need exactly one {chain_header}")
    chain = urllib.parse.unquote_plus(values[0])
    if not _CHAIN_PEM.fullmatch(chain.strip() + "\n"):
        raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, f"{url}: {chain_header} is not two PEMs")
    return capture.body, chain


def _collateral(captures: dict[str, _Capture], fmspc: str, ca: PckCa) -> TdxCollateral:
    tcb, tcb_chain = _get(
        captures, f"{PCS}/tdx/certification/v4/tcb?fmspc={fmspc}", "TCB-Info-Issuer-Chain"
    )
    qe, qe_chain = _get(
        captures, f"{PCS}/tdx/certification/v4/qe/identity", "SGX-Enclave-Identity-Issuer-Chain"
    )
    pck, pck_chain = _get(
        captures,
        f"{PCS}/sgx/certification/v4/pckcrl?ca={ca.value}&encoding=der",
        "SGX-PCK-CRL-Issuer-Chain",
    )
    root, _ = _get(captures, ROOT_CRL_URL, None)
    try:
        return TdxCollateral(
            tcb_info_json=tcb.decode("utf-8"),
            qe_identity_json=qe.decode("utf-8"),
            pck_crl=pck,
            root_crl=root,
            tcb_info_issuer_chain=tcb_chain,
            qe_identity_issuer_chain=qe_chain,
            pck_crl_issuer_chain=pck_chain,
            pck_crl_ca=ca,
        )
    except UnicodeDecodeError as exc:
        raise _quote(Code.V3_QUOTE_TDX_COLLATERAL, "captured PCS JSON is not UTF-8") from exc


def _mapped(exc: AttestationError) -> AttestationError:
    code = _CODES.get(exc.code, Code.V3_QUOTE_TDX_COLLATERAL)
    if code.value.startswith("V3_POLICY_"):
        return PolicyError(code, f"{exc.code.value}: {exc.message}")
    return HardwareError(code, f"{exc.code.value}: {exc.message}")


def _platform_slug(
    endorsements: Endorsements, policy: NamedPolicy, shape: Shape, mrtd: bytes, rtmr0: bytes
) -> str:
    assert policy.tdx is not None
    candidates = [
        slug
        for slug in policy.tdx.platform_measurements
        if endorsements.measurements[slug].shape.satisfies(shape)
    ]
    if not candidates:
        raise PolicyError(
            Code.V3_POLICY_SHAPE_NO_MATCH, "no endorsed platform measurement has the VM shape"
        )
    for slug in candidates:
        m = endorsements.measurements[slug]
        if hmac.compare_digest(m.mrtd, mrtd) and hmac.compare_digest(m.rtmr0, rtmr0):
            return slug
    raise PolicyError(
        Code.V3_POLICY_PLATFORM_MEASUREMENT, "MRTD/RTMR0 match no endorsed platform measurement"
    )


def verify_tdx(
    doc: Document,
    *,
    endorsements: Endorsements,
    code_measurement: Measurement,
    shape: Shape,
    report_data: bytes,
    trust: IntelTrust,
    now: dt.datetime,
) -> VerifiedTdx:
    """Authenticate the quote with the carried PCS captures and apply the machine's policy."""
    raw = doc.cpu_report
    try:
        parsed = parse_quote(raw)
        leaf = load_pem_chain(parsed.pck_chain_pem, PCK_CHAIN_CODES)[0]
        pck = parse_pck_extensions(leaf)
        ca = pck_ca_of(leaf)
    except AttestationError as exc:
        raise _mapped(exc) from exc
    if any(raw[8:12]):
        raise _quote(Code.V3_QUOTE_REPORT_FORMAT, "quote header bytes 8-11 are not zero")
    signed_size = int.from_bytes(raw[SIGNED_END : SIGNED_END + 4], "little")
    if any(raw[SIGNED_END + 4 + signed_size :]):  # v2 tolerates any trailer; v3 only zeros
        raise _quote(Code.V3_QUOTE_REPORT_FORMAT, "non-zero bytes after the signed quote data")
    if len(pck.ppid) != 16:
        raise _quote(Code.V3_QUOTE_IDENTITY, "PCK certificate carries no 16-byte PPID")
    collateral = _collateral(_captures(doc, now), pck.fmspc.hex(), ca)

    named = endorsements.policy_for(pck.ppid.hex())
    if named is None:
        raise PolicyError(Code.V3_POLICY_NOT_ENDORSED, f"PPID {pck.ppid.hex()} is not endorsed")
    if named.platform != "tdx" or named.tdx is None:
        raise PolicyError(Code.V3_POLICY_PLATFORM_MISMATCH, f"policy {named.name} is not tdx")
    signed = named.tdx
    if len(code_measurement.registers) != 3:
        raise PolicyError(Code.V3_POLICY_CODE_MEASUREMENT, "code measurement has no RTMR1/2")
    policy = dataclasses.replace(
        TdxPolicy.production(),
        accepted_tcb_statuses=frozenset({UP_TO_DATE}),
        min_tcb_evaluation_data_number=signed.minimum_tcb_evaluation_data_number,
        expected_td_attributes=signed.td_attributes,
        expected_xfam=signed.xfam,
        mr_seam_allowlist=(signed.mr_seam,),
        expected_report_data=report_data,
        min_tee_tcb_svn=signed.minimum_tee_tcb_svn,
        expected_qe_vendor_id=signed.qe_vendor_id,
        expected_mrtd=None,  # chosen among the endorsed platforms below
    )
    try:
        verified = verify_tdx_evidence(
            raw, collateral=collateral, policy=policy, trust=trust, now=now
        )
        chain = load_pem_chain(parsed.pck_chain_pem, PCK_CHAIN_CODES)
        docs = verify_collateral(
            collateral,
            pck_chain=chain,
            pck=pck,
            trust=trust,
            now=now,
            min_evaluation_data_number=signed.minimum_tcb_evaluation_data_number,
        )
    except AttestationError as exc:
        raise _mapped(exc) from exc
    for what, status in (
        ("TDX module", module_level_status(parsed, docs.tcb_info)),
        ("QE", qe_level_status(parsed, docs.qe_identity)),
    ):
        if status is not None and status != UP_TO_DATE:
            raise _quote(Code.V3_QUOTE_TCB_NOT_UPTODATE, f"{what} TCB level is {status}")
    mrtd, rtmr0, rtmr1, rtmr2, _ = (bytes.fromhex(r) for r in verified.measurement.registers)
    slug = _platform_slug(endorsements, named, shape, mrtd, rtmr0)
    if rtmr1.hex() != code_measurement.registers[1] or rtmr2.hex() != code_measurement.registers[2]:
        raise PolicyError(Code.V3_POLICY_MEASUREMENT, "RTMR1/RTMR2 differ from the code release")
    return VerifiedTdx(
        measurement=verified.measurement,
        policy=named,
        platform_measurement=slug,
        tcb=verified.tcb,
        verifiers=verified.verifiers,
    )


__all__ = ["VerifiedTdx", "replay_key", "verify_tdx"]
