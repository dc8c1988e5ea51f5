"""Conformance stage ``verify-attestation-sev`` (docs/attestation.md V2 and "Conformance CLI").

Both execution modes call the public verifier :func:`attestation.sev.verify_sev_evidence`
with the **production** :class:`SevPolicy` (V2.3), tightened by the input's pins and TCB
minimums; only external dependencies are injected: the VCEK, the AMD roots and the time.

AMD roots: ``amd_root_ca_pem`` / ``ask_pem`` in the input select
:meth:`AmdTrust.unpinned_for_testing` (synthetic chains). Otherwise the pinned chains shipped
with the package are used (:meth:`AmdTrust.shipped`): no network, no environment variable.
Time: ``expiration_check_date_unix``, else the wall clock (this CLI is the clock's boundary).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Final, Literal

from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from attestation.bundle import b64decode_strict, decode_document
from attestation.conformance.base import MalformedInput, RejectionContract
from attestation.errors import BundleError
from attestation.sev import SevPolicy, VerifiedSevReport, parse_report, verify_sev_report
from attestation.sev.abi import SevReport
from attestation.sev.roots import AmdTrust

STAGE: Final = "verify-attestation-sev"

REJECTION: Final = RejectionContract(
    codes=frozenset(
        {
            "REPORT_FORMAT_UNSUPPORTED",
            "REPORT_TRUNCATED",
            "WRONG_REPORT_VERSION",
            "VCEK_CHAIN_INVALID",
            "VCEK_EXPIRED",
            "VCEK_HWID_MISMATCH",
            "VCEK_TCB_MISMATCH",
            "ARK_UNTRUSTED",
            "ASK_INVALID",
            "REPORT_SIGNATURE_INVALID",
            "TCB_OUT_OF_DATE",
            "GUEST_POLICY_DEBUG_SET",
            "GUEST_POLICY_MIGRATE_MA_SET",
            "GUEST_POLICY_SINGLE_SOCKET_SET",
            "GUEST_POLICY_RESERVED_BIT_SET",
            "PLATFORM_INFO_INVALID",
            "SIGNER_INFO_INVALID",
            "MEASUREMENT_MISMATCH",
            "HOST_DATA_MISMATCH",
            "REPORT_DATA_MISMATCH",
            "ID_KEY_DIGEST_MISMATCH",
            "AUTHOR_KEY_DIGEST_MISMATCH",
            "QV_RESULT_TERMINAL_UNSPECIFIED",
        }
    ),
    aliases={
        # firmware below the minimum, or a provisional (uncommitted) one: the platform's
        # TCB is not the one the policy requires
        "FIRMWARE_OUT_OF_DATE": "TCB_OUT_OF_DATE",
        "PROVISIONAL_FIRMWARE": "TCB_OUT_OF_DATE",
        # a guest policy bit the production policy forbids (CXL_ALLOW, MEM_AES_256_XTS, …)
        "GUEST_POLICY_UNAUTHORIZED": "GUEST_POLICY_RESERVED_BIT_SET",
        # the AMD root is not (or not the pinned) one
        "AMD_ROOT_UNPINNED": "ARK_UNTRUSTED",
        "TRUST_ROOT_INVALID": "ARK_UNTRUSTED",
    },
    fallback="QV_RESULT_TERMINAL_UNSPECIFIED",
)

CAPABILITIES: Final[dict[str, object]] = {
    "attestation_sev": {
        "supported": True,
        "injected_collateral_supported": True,
        "extended_checks_supported": True,
        "amd_root_ca_injection_supported": True,
        "verification_time_override": "supported",
        "public_api_hooks_supported": True,
    },
    "platforms_supported": ["sev-snp"],
}

_Hex = Annotated[StrictStr, Field(pattern=r"^[0-9a-fA-F]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SevPolicyInput(_Model):
    """``policy`` of verify-attestation-sev.input.schema.json."""

    expected_measurement_hex: _Hex | None = None
    expected_host_data_hex: _Hex | None = None
    expected_report_data_hex: _Hex | None = None
    expected_id_key_digest_hex: _Hex | None = None
    expected_author_key_digest_hex: _Hex | None = None
    min_tcb_bl_spl: StrictInt | None = None
    min_tcb_tee_spl: StrictInt | None = None
    min_tcb_snp_spl: StrictInt | None = None
    min_tcb_ucode_spl: StrictInt | None = None
    enforce_spec_defaults: StrictBool | None = None  # production always enforces them


class SevInput(_Model):
    """verify-attestation-sev.input.schema.json (plus the harness's ``execution_mode``)."""

    schema_version: Literal["1"] = "1"
    execution_mode: Literal["adapter", "public_api"] = "adapter"
    attestation_doc_b64: StrictStr
    vcek_der_b64: StrictStr
    amd_root_ca_pem: StrictStr | None = None
    ask_pem: StrictStr | None = None
    expiration_check_date_unix: StrictInt | None = None
    policy: SevPolicyInput | None = None


def _pin(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def build_policy(pins: SevPolicyInput | None) -> SevPolicy:
    """Production policy, tightened (never loosened) by the input's pins and minimums."""
    policy = SevPolicy.production()
    if pins is None:
        return policy
    base = policy.min_tcb
    tcb = dataclasses.replace(
        base,
        bl_spl=max(base.bl_spl, pins.min_tcb_bl_spl or 0),
        tee_spl=max(base.tee_spl, pins.min_tcb_tee_spl or 0),
        snp_spl=max(base.snp_spl, pins.min_tcb_snp_spl or 0),
        ucode_spl=max(base.ucode_spl, pins.min_tcb_ucode_spl or 0),
    )
    try:
        return dataclasses.replace(
            policy,
            min_tcb=tcb,
            expected_measurement=_pin(pins.expected_measurement_hex),
            expected_host_data=_pin(pins.expected_host_data_hex),
            expected_report_data=_pin(pins.expected_report_data_hex),
            expected_id_key_digest=_pin(pins.expected_id_key_digest_hex),
            expected_author_key_digest=_pin(pins.expected_author_key_digest_hex),
        )
    except ValueError as exc:
        raise MalformedInput(f"policy pin is not hex: {exc}") from exc


def build_trust(inp: SevInput, report: SevReport) -> AmdTrust:
    """Injected ARK/ASK (unpinned, synthetic chains) or the shipped pinned chains."""
    pinned = AmdTrust.shipped()
    if inp.amd_root_ca_pem is None and inp.ask_pem is None:
        return pinned

    def pem_of(text: str | None, pick: str) -> bytes:
        if text is not None:
            return text.encode()
        chain = pinned.chain_for(report.product)
        return (chain.ark if pick == "ark" else chain.ask).public_bytes(Encoding.PEM)

    return AmdTrust.unpinned_for_testing(
        pem_of(inp.amd_root_ca_pem, "ark"), pem_of(inp.ask_pem, "ask")
    )


def parse_input(data: dict[str, Any]) -> SevInput:
    """Validate the input JSON object (exit 30 on schema violations)."""
    try:
        return SevInput.model_validate(data)
    except ValidationError as exc:
        raise MalformedInput(
            f"input does not match the SEV schema: {exc.error_count()} error(s)"
        ) from exc


def verify_input(inp: SevInput) -> VerifiedSevReport:
    """Decode and verify; raises AttestationError to reject."""
    try:
        report_raw = decode_document(inp.attestation_doc_b64)
        vcek_der = b64decode_strict(inp.vcek_der_b64, "vcek_der_b64")
    except BundleError as exc:
        raise MalformedInput(exc.message) from exc
    report = parse_report(report_raw)
    if inp.expiration_check_date_unix is not None:
        now = dt.datetime.fromtimestamp(inp.expiration_check_date_unix, dt.UTC)
    else:
        now = dt.datetime.now(dt.UTC)
    return verify_sev_report(
        report, vcek_der, policy=build_policy(inp.policy), trust=build_trust(inp, report), now=now
    )


def body_fields(report: SevReport) -> dict[str, object]:
    """``outputs.body_fields`` in the suite's pinned convention (informational only).

    The suite's expected.json (fixture 200) pins these as its reference adapter printed them:
    ``policy/current_tcb/platform_info`` as big-endian hex of the u64, but ``reported_tcb``,
    ``committed_tcb`` and ``launch_tcb`` as raw report bytes, and ``committed_tcb``, the
    current/committed firmware triples and ``launch_tcb`` read 8 bytes past the ABI offsets
    (0x1E8/0x1F0/0x1F4/0x1F8 instead of 0x1E0/0x1E8/0x1EC/0x1F0). We mirror that convention
    here so the comparison holds; every verification decision uses the ABI offsets of
    ``attestation.sev.abi`` instead.
    """
    raw = report.raw
    policy = report.policy
    tcb = report.current_tcb
    info = report.platform_info

    def bits(value: int, n: int) -> bool:
        return bool(value >> n & 1)

    return {
        "version": report.version,
        "guest_svn": report.guest_svn,
        "policy_hex": f"{policy:016x}",
        "policy_decoded": {
            "abi_minor": policy & 0xFF,
            "abi_major": policy >> 8 & 0xFF,
            "smt": bits(policy, 16),
            "reserved_mbo": bits(policy, 17),
            "migrate_ma": bits(policy, 18),
            "debug": bits(policy, 19),
            "single_socket": bits(policy, 20),
            "cxl_allow": bits(policy, 21),
            "mem_aes_256_xts": bits(policy, 22),
            "raplmsr_dis": bits(policy, 23),
            "ciphertext_hiding_dram": bits(policy, 24),
        },
        "family_id_hex": report.family_id.hex(),
        "image_id_hex": report.image_id.hex(),
        "vmpl": report.vmpl,
        "signature_algo": report.signature_algo,
        "current_tcb_hex": f"{report.current_tcb_raw:016x}",
        "current_tcb_decoded": {
            "bl_spl": tcb.bl_spl,
            "tee_spl": tcb.tee_spl,
            "snp_spl": tcb.snp_spl,
            "ucode_spl": tcb.ucode_spl,
        },
        "platform_info_hex": f"{info:016x}",
        "platform_info_decoded": {
            "smt_en": bits(info, 0),
            "tsme_en": bits(info, 1),
            "ecc_en": bits(info, 2),
            "rapl_dis": bits(info, 3),
            "ciphertext_hiding": bits(info, 4),
        },
        "signer_info_hex": f"{report.signer_info:08x}",
        "report_data_hex": report.report_data.hex(),
        "measurement_hex": report.measurement.hex(),
        "host_data_hex": report.host_data.hex(),
        "id_key_digest_hex": report.id_key_digest.hex(),
        "author_key_digest_hex": report.author_key_digest.hex(),
        "report_id_hex": report.report_id.hex(),
        "report_id_ma_hex": report.report_id_ma.hex(),
        "reported_tcb_hex": raw[0x180:0x188].hex(),
        "chip_id_hex": report.chip_id.hex(),
        "committed_tcb_hex": raw[0x1E8:0x1F0].hex(),
        "current_build": raw[0x1F0],
        "current_minor": raw[0x1F1],
        "current_major": raw[0x1F2],
        "committed_build": raw[0x1F4],
        "committed_minor": raw[0x1F5],
        "committed_major": raw[0x1F6],
        "launch_tcb_hex": raw[0x1F8:0x200].hex(),
    }


def run(data: dict[str, Any]) -> dict[str, object]:
    """Verify one SEV-SNP report; return ``outputs`` or raise a rejection."""
    verified = verify_input(parse_input(data))
    m = verified.measurement
    return {
        "measurement": {"type": m.type, "registers": list(m.registers)},
        "body_fields": body_fields(verified.report),
    }


__all__ = [
    "CAPABILITIES",
    "STAGE",
    "SevInput",
    "body_fields",
    "build_policy",
    "build_trust",
    "parse_input",
    "run",
    "verify_input",
]
