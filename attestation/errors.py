"""One exception hierarchy for the whole `attestation` package.

Every failure carries a stable :class:`Code` (the conformance-suite taxonomy plus a few
codes of our own, marked below) and the pipeline :class:`Step` it belongs to. Codes are
chosen by explicit checks at the point of failure, never derived from a library's message
text (docs/attestation.md V0).

    AttestationError
     +-- BundleError          (step "parse": envelope, encodings, sizes, unknown formats)
     +-- HardwareError        (step "hardware": SEV-SNP / TDX evidence, chains, collateral, policy)
     +-- ProvenanceError      (step "provenance": Sigstore bundle, identity, in-toto statement)
     +-- MeasurementError     (step "measurement": code vs hardware measurement comparison)
     +-- KeyBindingError      (step "key_binding": report_data, enclave certificate SANs)
     +-- TrustError           (step "trust": trust roots missing, unpinned or malformed)
     +-- PolicyError          (step "policy": v3 signed per-machine platform policy)
     +-- FetchError           (step "fetch": network; not a rejection of the evidence)
"""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    """Pipeline step a failure (or a success record) belongs to."""

    FETCH = "fetch"
    PARSE = "parse"
    HARDWARE = "hardware"
    PROVENANCE = "provenance"
    MEASUREMENT = "measurement"
    KEY_BINDING = "key_binding"
    TRUST = "trust"
    # v3 attestation documents only (attestation/v3/)
    FRESHNESS = "freshness"
    ENDORSEMENT = "endorsement"
    POLICY = "policy"


class Code(StrEnum):
    """Stable rejection codes (conformance taxonomy; ours are marked)."""

    # generic / envelope
    BUNDLE_MALFORMED = "BUNDLE_MALFORMED"
    REPORT_FORMAT_UNSUPPORTED = "REPORT_FORMAT_UNSUPPORTED"
    TRUST_ROOT_INVALID = "TRUST_ROOT_INVALID"
    FETCH_FAILED = "FETCH_FAILED"  # ours: network or HTTP failure while fetching evidence
    INTERNAL_ERROR = "INTERNAL_ERROR"  # ours: a bug or an unexpected library failure

    # SEV-SNP report and VCEK
    REPORT_TRUNCATED = "REPORT_TRUNCATED"
    WRONG_REPORT_VERSION = "WRONG_REPORT_VERSION"
    REPORT_SIGNATURE_INVALID = "REPORT_SIGNATURE_INVALID"
    SIGNER_INFO_INVALID = "SIGNER_INFO_INVALID"
    PLATFORM_INFO_INVALID = "PLATFORM_INFO_INVALID"
    ARK_UNTRUSTED = "ARK_UNTRUSTED"
    ASK_INVALID = "ASK_INVALID"
    VCEK_CHAIN_INVALID = "VCEK_CHAIN_INVALID"
    VCEK_EXPIRED = "VCEK_EXPIRED"
    VCEK_HWID_MISMATCH = "VCEK_HWID_MISMATCH"
    VCEK_TCB_MISMATCH = "VCEK_TCB_MISMATCH"
    GUEST_POLICY_DEBUG_SET = "GUEST_POLICY_DEBUG_SET"
    GUEST_POLICY_MIGRATE_MA_SET = "GUEST_POLICY_MIGRATE_MA_SET"
    GUEST_POLICY_RESERVED_BIT_SET = "GUEST_POLICY_RESERVED_BIT_SET"
    GUEST_POLICY_SINGLE_SOCKET_SET = "GUEST_POLICY_SINGLE_SOCKET_SET"
    GUEST_POLICY_UNAUTHORIZED = "GUEST_POLICY_UNAUTHORIZED"  # ours: CXL / AES-256-XTS set
    TCB_OUT_OF_DATE = "TCB_OUT_OF_DATE"
    FIRMWARE_OUT_OF_DATE = "FIRMWARE_OUT_OF_DATE"  # ours: build / API version below minimum
    PROVISIONAL_FIRMWARE = "PROVISIONAL_FIRMWARE"  # ours: committed != current
    HOST_DATA_MISMATCH = "HOST_DATA_MISMATCH"
    REPORT_DATA_MISMATCH = "REPORT_DATA_MISMATCH"
    ID_KEY_DIGEST_MISMATCH = "ID_KEY_DIGEST_MISMATCH"
    AUTHOR_KEY_DIGEST_MISMATCH = "AUTHOR_KEY_DIGEST_MISMATCH"

    # TDX quote, PCK chain, collateral, TD policy
    QUOTE_FORMAT_UNSUPPORTED = "QUOTE_FORMAT_UNSUPPORTED"
    QUOTE_TRUNCATED = "QUOTE_TRUNCATED"
    ATTESTATION_KEY_TYPE_UNSUPPORTED = "ATTESTATION_KEY_TYPE_UNSUPPORTED"
    WRONG_TEE_TYPE = "WRONG_TEE_TYPE"
    QE_VENDOR_UNKNOWN = "QE_VENDOR_UNKNOWN"
    QE_VENDOR_ID_MISMATCH = "QE_VENDOR_ID_MISMATCH"
    QUOTE_SIGNATURE_INVALID = "QUOTE_SIGNATURE_INVALID"
    QE_REPORT_SIGNATURE_INVALID = "QE_REPORT_SIGNATURE_INVALID"
    AK_BINDING_INVALID = "AK_BINDING_INVALID"
    AK_MISMATCH = "AK_MISMATCH"
    PCK_CHAIN_INVALID = "PCK_CHAIN_INVALID"
    PCK_CHAIN_INCOMPLETE = "PCK_CHAIN_INCOMPLETE"
    ROOT_CA_UNTRUSTED = "ROOT_CA_UNTRUSTED"
    PCK_EXPIRED = "PCK_EXPIRED"
    PCK_REVOKED = "PCK_REVOKED"
    PCK_FMSPC_MISMATCH = "PCK_FMSPC_MISMATCH"
    PCK_CRL_EXPIRED = "PCK_CRL_EXPIRED"
    ROOT_CRL_EXPIRED = "ROOT_CRL_EXPIRED"
    INTERMEDIATE_REVOKED = "INTERMEDIATE_REVOKED"
    TCB_INFO_CHAIN_INVALID = "TCB_INFO_CHAIN_INVALID"
    TCB_INFO_SIGNATURE_INVALID = "TCB_INFO_SIGNATURE_INVALID"
    TCB_INFO_EXPIRED = "TCB_INFO_EXPIRED"
    TCB_EVAL_DATA_NUMBER_TOO_LOW = "TCB_EVAL_DATA_NUMBER_TOO_LOW"
    TCB_REVOKED = "TCB_REVOKED"
    QE_IDENTITY_ID_INVALID = "QE_IDENTITY_ID_INVALID"
    QE_IDENTITY_VERSION_INVALID = "QE_IDENTITY_VERSION_INVALID"
    QE_IDENTITY_SIGNATURE_INVALID = "QE_IDENTITY_SIGNATURE_INVALID"
    QE_IDENTITY_EXPIRED = "QE_IDENTITY_EXPIRED"
    QE_IDENTITY_MRSIGNER_MISMATCH = "QE_IDENTITY_MRSIGNER_MISMATCH"
    QE_IDENTITY_FIELD_MISMATCH = "QE_IDENTITY_FIELD_MISMATCH"
    QV_RESULT_TERMINAL_UNSPECIFIED = "QV_RESULT_TERMINAL_UNSPECIFIED"
    # ours: the independent second TDX verifier (dcap-qvl) rejected a quote we accepted, or
    # reached another TCB status. The conformance TDX stage reports it as
    # QV_RESULT_TERMINAL_UNSPECIFIED (its schema has no such code); verify-full keeps it.
    TDX_VERIFIER_DISAGREEMENT = "TDX_VERIFIER_DISAGREEMENT"
    QV_RESULT_NOT_ACCEPTED_BY_POLICY = "QV_RESULT_NOT_ACCEPTED_BY_POLICY"
    TD_ATTRIBUTES_DEBUG_SET = "TD_ATTRIBUTES_DEBUG_SET"
    TD_ATTRIBUTES_RESERVED_BIT_SET = "TD_ATTRIBUTES_RESERVED_BIT_SET"
    TD_ATTRIBUTES_MISMATCH = "TD_ATTRIBUTES_MISMATCH"
    XFAM_REQUIRED_BIT_CLEAR = "XFAM_REQUIRED_BIT_CLEAR"
    XFAM_FORBIDDEN_BIT_SET = "XFAM_FORBIDDEN_BIT_SET"
    XFAM_MISMATCH = "XFAM_MISMATCH"
    MR_SEAM_NOT_ALLOWED = "MR_SEAM_NOT_ALLOWED"
    MR_SIGNER_SEAM_MISMATCH = "MR_SIGNER_SEAM_MISMATCH"
    SEAM_ATTRIBUTES_MISMATCH = "SEAM_ATTRIBUTES_MISMATCH"
    MRTD_MISMATCH = "MRTD_MISMATCH"
    MR_CONFIG_ID_MISMATCH = "MR_CONFIG_ID_MISMATCH"
    MR_OWNER_MISMATCH = "MR_OWNER_MISMATCH"
    MR_OWNER_CONFIG_MISMATCH = "MR_OWNER_CONFIG_MISMATCH"
    RTMR3_NONZERO = "RTMR3_NONZERO"
    TEE_TCB_SVN_BELOW_MINIMUM = "TEE_TCB_SVN_BELOW_MINIMUM"

    # Sigstore provenance
    FULCIO_CHAIN_INVALID = "FULCIO_CHAIN_INVALID"
    SCT_INSUFFICIENT = "SCT_INSUFFICIENT"
    SCT_DUPLICATE_LOG = "SCT_DUPLICATE_LOG"
    CERT_EXPIRED = "CERT_EXPIRED"
    OIDC_ISSUER_MISMATCH = "OIDC_ISSUER_MISMATCH"
    WORKFLOW_REPOSITORY_MISMATCH = "WORKFLOW_REPOSITORY_MISMATCH"
    WORKFLOW_REF_PREFIX_MISMATCH = "WORKFLOW_REF_PREFIX_MISMATCH"
    REKOR_INCLUSION_INVALID = "REKOR_INCLUSION_INVALID"
    REKOR_KEY_NOT_TRUSTED = "REKOR_KEY_NOT_TRUSTED"
    CHECKPOINT_ROOT_MISMATCH = "CHECKPOINT_ROOT_MISMATCH"
    TLOG_COUNT_OUT_OF_RANGE = "TLOG_COUNT_OUT_OF_RANGE"
    OBSERVER_TIMESTAMP_INSUFFICIENT = "OBSERVER_TIMESTAMP_INSUFFICIENT"
    DSSE_SIGNATURE_INVALID = "DSSE_SIGNATURE_INVALID"
    PAYLOAD_TYPE_MISMATCH = "PAYLOAD_TYPE_MISMATCH"
    IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED = "IN_TOTO_STATEMENT_TYPE_NOT_ALLOWED"
    SUBJECT_MISSING = "SUBJECT_MISSING"
    SUBJECT_DIGEST_MISMATCH = "SUBJECT_DIGEST_MISMATCH"
    PREDICATE_TYPE_NOT_ALLOWED = "PREDICATE_TYPE_NOT_ALLOWED"
    PREDICATE_MEASUREMENT_INVALID = "PREDICATE_MEASUREMENT_INVALID"

    # measurements and hardware-measurement matching
    MEASUREMENT_MISMATCH = "MEASUREMENT_MISMATCH"
    MEASUREMENT_RTMR3_NONZERO = "MEASUREMENT_RTMR3_NONZERO"
    MEASUREMENT_REGISTER_COUNT_INVALID = "MEASUREMENT_REGISTER_COUNT_INVALID"
    MEASUREMENT_TYPE_UNKNOWN = "MEASUREMENT_TYPE_UNKNOWN"
    MEASUREMENT_TYPE_COMBINATION_UNSUPPORTED = "MEASUREMENT_TYPE_COMBINATION_UNSUPPORTED"
    HARDWARE_NO_MATCH = "HARDWARE_NO_MATCH"
    ENCLAVE_MEASUREMENT_TYPE_INVALID = "ENCLAVE_MEASUREMENT_TYPE_INVALID"
    ENCLAVE_REGISTER_COUNT_INVALID = "ENCLAVE_REGISTER_COUNT_INVALID"

    # key binding (report_data, enclave certificate)
    EHBP_KEY_BINDING_MISMATCH = "EHBP_KEY_BINDING_MISMATCH"
    TLS_KEY_BINDING_MISMATCH = "TLS_KEY_BINDING_MISMATCH"  # ours: sha256(SPKI) != report_data[0:32]
    CERT_MALFORMED = "CERT_MALFORMED"  # ours: enclaveCert does not parse / lacks SANs
    CERT_DOMAIN_MISMATCH = "CERT_DOMAIN_MISMATCH"  # ours: bundle domain not covered by a SAN
    CERT_HPKE_KEY_MISMATCH = "CERT_HPKE_KEY_MISMATCH"  # ours: hpke SANs != attested key
    CERT_ATTESTATION_HASH_MISMATCH = "CERT_ATTESTATION_HASH_MISMATCH"  # ours: hatt SANs

    # trust roots (ours)
    AMD_ROOT_UNPINNED = "AMD_ROOT_UNPINNED"  # ARK/ASK fingerprints do not match the pins

    # v3 attestation documents (attestation/v3/). The layer is in the name: ENV =
    # ENVELOPE_REJECTED, PROV = PROVENANCE_REJECTED, QUOTE = QUOTE_REJECTED, POLICY =
    # POLICY_REJECTED; FETCH/CONFIG/BIND belong to no verdict layer (see v3_layer). A key past
    # its freshness deadline is not an error code: the proxy stops using it (state "expired").
    V3_FETCH_HTTP_STATUS = "V3_FETCH_HTTP_STATUS"
    V3_FETCH_TOO_LARGE = "V3_FETCH_TOO_LARGE"
    V3_FETCH_NOT_FOUND = "V3_FETCH_NOT_FOUND"
    V3_CONFIG_BAD_NONCE = "V3_CONFIG_BAD_NONCE"
    V3_ENV_JSON_INVALID = "V3_ENV_JSON_INVALID"
    V3_ENV_UNKNOWN_MEMBER = "V3_ENV_UNKNOWN_MEMBER"
    V3_ENV_DUPLICATE_MEMBER = "V3_ENV_DUPLICATE_MEMBER"
    V3_ENV_BAD_FORMAT = "V3_ENV_BAD_FORMAT"
    V3_ENV_BAD_ALGORITHM = "V3_ENV_BAD_ALGORITHM"
    V3_ENV_BAD_HEX = "V3_ENV_BAD_HEX"
    V3_ENV_CPU_INCOMPLETE = "V3_ENV_CPU_INCOMPLETE"
    V3_ENV_SECTION_MISSING = "V3_ENV_SECTION_MISSING"
    V3_ENV_NONCANONICAL_BASE64 = "V3_ENV_NONCANONICAL_BASE64"
    V3_ENV_SECTION_FORMAT = "V3_ENV_SECTION_FORMAT"
    V3_ENV_ITEMS_MISSING = "V3_ENV_ITEMS_MISSING"
    V3_ENV_ITEM_INCOMPLETE = "V3_ENV_ITEM_INCOMPLETE"
    V3_ENV_DUPLICATE_ITEM_ID = "V3_ENV_DUPLICATE_ITEM_ID"
    V3_ENV_KEY_DATA = "V3_ENV_KEY_DATA"
    V3_ENV_COLLATERAL_INCOMPLETE = "V3_ENV_COLLATERAL_INCOMPLETE"
    V3_ENV_DUPLICATE_COLLATERAL_ID = "V3_ENV_DUPLICATE_COLLATERAL_ID"
    V3_ENV_COLLATERAL_ROLE = "V3_ENV_COLLATERAL_ROLE"
    V3_ENV_NONCE_MISMATCH = "V3_ENV_NONCE_MISMATCH"
    V3_ENV_CM_HASH_MISMATCH = "V3_ENV_CM_HASH_MISMATCH"
    V3_ENV_DE_HASH_MISMATCH = "V3_ENV_DE_HASH_MISMATCH"
    V3_ENV_REPORT_DATA_MISMATCH = "V3_ENV_REPORT_DATA_MISMATCH"
    V3_ENV_UNSUPPORTED_FORMAT = "V3_ENV_UNSUPPORTED_FORMAT"
    V3_PROV_CODE_MISSING = "V3_PROV_CODE_MISSING"
    V3_PROV_PLATFORM_MISSING = "V3_PROV_PLATFORM_MISSING"
    V3_PROV_COLLATERAL_PARSE = "V3_PROV_COLLATERAL_PARSE"
    V3_PROV_BUNDLE_MEDIA_TYPE = "V3_PROV_BUNDLE_MEDIA_TYPE"
    V3_PROV_BUNDLE_LEGACY = "V3_PROV_BUNDLE_LEGACY"
    V3_PROV_DSSE_SIGNATURE_COUNT = "V3_PROV_DSSE_SIGNATURE_COUNT"
    V3_PROV_SCT_DUPLICATE_LOG = "V3_PROV_SCT_DUPLICATE_LOG"
    V3_PROV_SIGSTORE_VERIFY = "V3_PROV_SIGSTORE_VERIFY"
    V3_PROV_IDENTITY = "V3_PROV_IDENTITY"
    V3_PROV_PAYLOAD_TYPE = "V3_PROV_PAYLOAD_TYPE"
    V3_PROV_STATEMENT = "V3_PROV_STATEMENT"
    V3_PROV_SUBJECT_DIGEST = "V3_PROV_SUBJECT_DIGEST"
    V3_PROV_SOURCE_REF = "V3_PROV_SOURCE_REF"
    V3_PROV_PREDICATE = "V3_PROV_PREDICATE"
    V3_PROV_PLATFORM_REPO = "V3_PROV_PLATFORM_REPO"
    V3_PROV_ARTIFACT_INVALID = "V3_PROV_ARTIFACT_INVALID"
    V3_PROV_FRESHNESS_MISSING = "V3_PROV_FRESHNESS_MISSING"
    V3_PROV_FRESHNESS_IDENTITY = "V3_PROV_FRESHNESS_IDENTITY"
    V3_PROV_FRESHNESS_STATEMENT = "V3_PROV_FRESHNESS_STATEMENT"
    V3_PROV_FRESHNESS_NO_TIME = "V3_PROV_FRESHNESS_NO_TIME"
    V3_PROV_FRESHNESS_FUTURE = "V3_PROV_FRESHNESS_FUTURE"
    V3_PROV_FRESHNESS_STALE = "V3_PROV_FRESHNESS_STALE"
    V3_QUOTE_FORMAT_UNSUPPORTED = "V3_QUOTE_FORMAT_UNSUPPORTED"
    V3_QUOTE_COLLATERAL_MISSING = "V3_QUOTE_COLLATERAL_MISSING"
    V3_QUOTE_CRL_WINDOW = "V3_QUOTE_CRL_WINDOW"
    V3_QUOTE_REPORT_FORMAT = "V3_QUOTE_REPORT_FORMAT"
    V3_QUOTE_SIGNER = "V3_QUOTE_SIGNER"
    V3_QUOTE_VCEK_INVALID = "V3_QUOTE_VCEK_INVALID"
    V3_QUOTE_CHAIN = "V3_QUOTE_CHAIN"
    V3_QUOTE_REVOKED = "V3_QUOTE_REVOKED"
    V3_QUOTE_SIGNATURE = "V3_QUOTE_SIGNATURE"
    V3_QUOTE_PCS_MISSING_CAPTURE = "V3_QUOTE_PCS_MISSING_CAPTURE"
    V3_QUOTE_TDX_COLLATERAL = "V3_QUOTE_TDX_COLLATERAL"
    V3_QUOTE_TCB_NOT_UPTODATE = "V3_QUOTE_TCB_NOT_UPTODATE"
    V3_QUOTE_IDENTITY = "V3_QUOTE_IDENTITY"
    V3_POLICY_NOT_ENDORSED = "V3_POLICY_NOT_ENDORSED"
    V3_POLICY_PLATFORM_MISMATCH = "V3_POLICY_PLATFORM_MISMATCH"
    V3_POLICY_PRODUCT_RULE = "V3_POLICY_PRODUCT_RULE"
    V3_POLICY_CODE_MEASUREMENT = "V3_POLICY_CODE_MEASUREMENT"
    V3_POLICY_SHAPE_NO_MATCH = "V3_POLICY_SHAPE_NO_MATCH"
    V3_POLICY_PLATFORM_MEASUREMENT = "V3_POLICY_PLATFORM_MEASUREMENT"
    V3_POLICY_REPORT_DATA = "V3_POLICY_REPORT_DATA"
    V3_POLICY_MEASUREMENT = "V3_POLICY_MEASUREMENT"
    V3_POLICY_GUEST_POLICY = "V3_POLICY_GUEST_POLICY"
    V3_POLICY_PLATFORM_INFO = "V3_POLICY_PLATFORM_INFO"
    V3_POLICY_TCB = "V3_POLICY_TCB"
    V3_POLICY_FIELDS = "V3_POLICY_FIELDS"
    V3_POLICY_ID_BLOCK = "V3_POLICY_ID_BLOCK"
    V3_POLICY_TDX_FIELD = "V3_POLICY_TDX_FIELD"
    V3_POLICY_EVAL_NUMBER = "V3_POLICY_EVAL_NUMBER"
    V3_BIND_NO_TLS_KEY = "V3_BIND_NO_TLS_KEY"
    V3_BIND_NO_HPKE_KEY = "V3_BIND_NO_HPKE_KEY"


class AttestationError(Exception):
    """Root of every error raised by `attestation`.

    `code` is stable and machine-readable; `step` names the pipeline step; the message is
    for humans and may change between releases.
    """

    default_step: Step = Step.PARSE

    def __init__(self, code: Code, message: str, *, step: Step | None = None) -> None:
        super().__init__(message)
        self.code: Code = code
        self.step: Step = step if step is not None else self.default_step
        self.message = message

    def __str__(self) -> str:
        return f"{self.step.value}: {self.code.value}: {self.message}"

    def diagnostics(self) -> str:
        """One line for a user: which step failed, with which code, and why."""
        return f"attestation failed at step '{self.step.value}' ({self.code.value}): {self.message}"


class BundleError(AttestationError):
    """The bundle or a piece of evidence in it is malformed or of an unsupported format."""

    default_step = Step.PARSE


class HardwareError(AttestationError):
    """The hardware evidence (SEV-SNP report, TDX quote, chains, collateral) was rejected."""

    default_step = Step.HARDWARE


class ProvenanceError(AttestationError):
    """The Sigstore provenance of the code measurement was rejected."""

    default_step = Step.PROVENANCE


class MeasurementError(AttestationError):
    """Code measurement and hardware measurement do not agree."""

    default_step = Step.MEASUREMENT


class KeyBindingError(AttestationError):
    """Keys or certificate are not bound to the verified report."""

    default_step = Step.KEY_BINDING


class TrustError(AttestationError):
    """A trust root is missing, malformed or does not match its pin."""

    default_step = Step.TRUST


class PolicyError(AttestationError):
    """A v3 document's evidence does not satisfy the signed platform policy of its machine."""

    default_step = Step.POLICY


def v3_layer(code: Code) -> str | None:
    """Tinfoil's layer name for a v3 code (``ENVELOPE_REJECTED``...); None outside the layers."""
    prefixes = {
        "V3_ENV_": "ENVELOPE_REJECTED",
        "V3_PROV_": "PROVENANCE_REJECTED",
        "V3_QUOTE_": "QUOTE_REJECTED",
        "V3_POLICY_": "POLICY_REJECTED",
    }
    return next((v for k, v in prefixes.items() if code.value.startswith(k)), None)


class FetchError(AttestationError):
    """Evidence could not be fetched (network, HTTP status, size). Not a verdict on evidence."""

    default_step = Step.FETCH


__all__ = [
    "AttestationError",
    "BundleError",
    "Code",
    "FetchError",
    "HardwareError",
    "KeyBindingError",
    "MeasurementError",
    "PolicyError",
    "ProvenanceError",
    "Step",
    "TrustError",
    "v3_layer",
]
