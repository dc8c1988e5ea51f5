"""TCB level evaluation and TCB status policy (docs/attestation.md V3.3 steps 9–12).

Pure functions over the parsed quote, the PCK extension values and verified collateral.
"""

from __future__ import annotations

from dataclasses import dataclass

from attestation.errors import Code, HardwareError
from attestation.tdx.abi import TdxQuote
from attestation.tdx.certs import PckExtensions
from attestation.tdx.collateral import IsvLevel, ModuleIdentity, QeIdentity, TcbInfo, TcbLevel
from attestation.tdx.policy import TdxPolicy

# tcbStatus → Intel QV result name (V3.3 step 12; Intel DCAP §B.1).
QV_RESULTS: dict[str, str] = {
    "UpToDate": "OK",
    "SWHardeningNeeded": "SW_HARDENING_NEEDED",
    "ConfigurationNeeded": "CONFIG_NEEDED",
    "ConfigurationAndSWHardeningNeeded": "CONFIG_AND_SW_HARDENING_NEEDED",
    "OutOfDate": "OUT_OF_DATE",
    "OutOfDateConfigurationNeeded": "OUT_OF_DATE_CONFIG_NEEDED",
    "TDRelaunchAdvised": "TD_RELAUNCH_ADVISED",
    "TDRelaunchAdvisedConfigurationNeeded": "TD_RELAUNCH_ADVISED_CONFIG_NEEDED",
}
_OUT_OF_DATE = frozenset({"OutOfDate", "OutOfDateConfigurationNeeded"})
_REVOKED = "Revoked"
# OutOfDate is terminal under the TCB status policy (an out-of-date platform, module or QE is
# refused), and the conformance schema's code for a status the policy refuses is this one.
_OUT_OF_DATE_CODE = Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY


@dataclass(frozen=True, slots=True)
class TcbVerdict:
    """The matched platform TCB status and its QV result name."""

    tcb_status: str
    qv_result: str


def _reject_bad_isv_status(status: str, what: str) -> None:
    """Module and QE levels: OutOfDate*, Revoked and unknown statuses reject (steps 10–11)."""
    if status == _REVOKED:
        raise HardwareError(Code.TCB_REVOKED, f"{what} TCB level is Revoked")
    if status in _OUT_OF_DATE:
        raise HardwareError(_OUT_OF_DATE_CODE, f"{what} TCB level is {status}")
    if status not in QV_RESULTS:
        raise HardwareError(Code.QV_RESULT_TERMINAL_UNSPECIFIED, f"{what} status {status!r}")


def _first_isv_level(levels: tuple[IsvLevel, ...], isv_svn: int) -> IsvLevel | None:
    return next((lv for lv in levels if lv.isv_svn <= isv_svn), None)


def module_level_status(quote: TdxQuote, tcb_info: TcbInfo) -> str | None:
    """Status of the TDX module identity level the quote matches (None: no module level)."""
    svn = quote.body.tee_tcb_svn
    if svn[1] == 0:
        return None
    wanted = module_identity_id(svn[1])
    module = next((m for m in tcb_info.module_identities if m.id == wanted), None)
    level = None if module is None else _first_isv_level(module.levels, svn[0])
    return None if level is None else level.status


def qe_level_status(quote: TdxQuote, qe_identity: QeIdentity) -> str | None:
    """Status of the QE identity level the quote's QE matches."""
    level = _first_isv_level(qe_identity.levels, quote.qe_report.isv_svn)
    return None if level is None else level.status


def match_platform_level(quote: TdxQuote, pck: PckExtensions, tcb_info: TcbInfo) -> TcbLevel:
    """Step 9: the first (newest) TCB level the platform meets or exceeds."""
    svn = quote.body.tee_tcb_svn
    start = 2 if svn[1] > 0 else 0  # module SVN bytes are judged by the module identity
    for level in tcb_info.levels:
        if (
            all(p >= r for p, r in zip(pck.sgx_tcb_components, level.sgx_components, strict=True))
            and pck.pce_svn >= level.pce_svn
            and all(svn[i] >= level.tdx_components[i] for i in range(start, 16))
        ):
            if level.status == _REVOKED:
                raise HardwareError(Code.TCB_REVOKED, "platform TCB level is Revoked")
            return level
    raise HardwareError(
        Code.QV_RESULT_TERMINAL_UNSPECIFIED, "platform TCB matches no TCB level of the TCB Info"
    )


def _masked(value: bytes, mask: bytes) -> bytes:
    return bytes(v & m for v, m in zip(value, mask, strict=True))


def _check_module_fields(quote: TdxQuote, module: ModuleIdentity) -> None:
    body = quote.body
    if body.mr_signer_seam != module.mr_signer:
        raise HardwareError(
            Code.MR_SIGNER_SEAM_MISMATCH, "MR_SIGNER_SEAM differs from the TDX module identity"
        )
    if _masked(body.seam_attributes, module.attributes_mask) != _masked(
        module.attributes, module.attributes_mask
    ):
        raise HardwareError(
            Code.SEAM_ATTRIBUTES_MISMATCH, "SEAM_ATTRIBUTES differ from the TDX module identity"
        )


def module_identity_id(major_svn: int) -> str:
    """The TCB Info ``tdxModuleIdentities`` id for TEE_TCB_SVN[1]: two uppercase hex digits.

    Intel's QVL formats it as ``TDX_%02X``; decimal would diverge from SVN 10 on.
    """
    return f"TDX_{major_svn:02X}"


def check_module_identity(quote: TdxQuote, tcb_info: TcbInfo) -> None:
    """Step 10: the TDX module identity ``TDX_%02X`` % TEE_TCB_SVN[1], or ``tdxModule`` for 0."""
    svn = quote.body.tee_tcb_svn
    if svn[1] == 0:
        _check_module_fields(quote, tcb_info.module)
        return
    module_id = module_identity_id(svn[1])
    module = next((m for m in tcb_info.module_identities if m.id == module_id), None)
    if module is None:
        raise HardwareError(
            Code.QV_RESULT_TERMINAL_UNSPECIFIED, f"TCB Info lists no module identity {module_id}"
        )
    _check_module_fields(quote, module)
    level = _first_isv_level(module.levels, svn[0])
    if level is None:
        raise HardwareError(
            _OUT_OF_DATE_CODE, f"TDX module SVN {svn[0]} is below every {module_id} level"
        )
    _reject_bad_isv_status(level.status, f"TDX module {module_id}")


def check_qe_identity(quote: TdxQuote, qe_identity: QeIdentity) -> None:
    """Step 11: the Quoting Enclave matches the signed QE Identity and is not out of date."""
    report = quote.qe_report
    if report.mr_signer != qe_identity.mr_signer:
        raise HardwareError(Code.QE_IDENTITY_MRSIGNER_MISMATCH, "QE MRSIGNER is not Intel's")
    if _masked(report.misc_select, qe_identity.misc_select_mask) != _masked(
        qe_identity.misc_select, qe_identity.misc_select_mask
    ):
        raise HardwareError(Code.QE_IDENTITY_FIELD_MISMATCH, "QE MISCSELECT mismatch")
    if _masked(report.attributes, qe_identity.attributes_mask) != _masked(
        qe_identity.attributes, qe_identity.attributes_mask
    ):
        raise HardwareError(Code.QE_IDENTITY_FIELD_MISMATCH, "QE ATTRIBUTES mismatch")
    if report.isv_prod_id != qe_identity.isv_prod_id:
        raise HardwareError(Code.QE_IDENTITY_FIELD_MISMATCH, "QE ISVPRODID mismatch")
    level = _first_isv_level(qe_identity.levels, report.isv_svn)
    if level is None:
        raise HardwareError(
            _OUT_OF_DATE_CODE, f"QE ISVSVN {report.isv_svn} is below every QE level"
        )
    _reject_bad_isv_status(level.status, "QE")


def apply_status_policy(status: str, policy: TdxPolicy) -> TcbVerdict:
    """Step 12: accept the platform status only if the policy does (V3.3 step 12)."""
    qv_result = QV_RESULTS.get(status)
    if qv_result is None:
        raise HardwareError(Code.QV_RESULT_TERMINAL_UNSPECIFIED, f"unknown TCB status {status!r}")
    if status not in policy.accepted_tcb_statuses:
        raise HardwareError(
            Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY, f"TCB status {status} is not accepted by policy"
        )
    if policy.accepted_qv_results is not None and qv_result not in policy.accepted_qv_results:
        raise HardwareError(
            Code.QV_RESULT_NOT_ACCEPTED_BY_POLICY, f"qv_result {qv_result} not accepted by policy"
        )
    return TcbVerdict(tcb_status=status, qv_result=qv_result)


def evaluate_tcb(
    quote: TdxQuote,
    pck: PckExtensions,
    tcb_info: TcbInfo,
    qe_identity: QeIdentity,
    policy: TdxPolicy,
) -> TcbVerdict:
    """Steps 9–12 in order; return the accepted status or raise."""
    level = match_platform_level(quote, pck, tcb_info)
    check_module_identity(quote, tcb_info)
    check_qe_identity(quote, qe_identity)
    return apply_status_policy(level.status, policy)


__all__ = [
    "QV_RESULTS",
    "TcbVerdict",
    "apply_status_policy",
    "check_module_identity",
    "check_qe_identity",
    "evaluate_tcb",
    "match_platform_level",
    "module_identity_id",
    "module_level_status",
    "qe_level_status",
]
