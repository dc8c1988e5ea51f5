"""Exact strings and limits of the Tinfoil v3 attestation document (nonce-bound, final format)."""

from __future__ import annotations

import datetime as dt
from typing import Final

DOCUMENT_FORMAT: Final = "https://tinfoil.sh/predicate/attestation/v3"
REPORT_DATA_V1: Final = "https://tinfoil.sh/report-data/v1"
CRYPTO_MATERIAL_V1: Final = "https://tinfoil.sh/crypto-material/v1"
DEVICE_EVIDENCE_V1: Final = "https://tinfoil.sh/device-evidence/v1"

CPU_SEV_SNP: Final = "https://tinfoil.sh/format/sev-snp-report/v1"
CPU_TDX: Final = "https://tinfoil.sh/format/tdx-quote/v1"

KEY_TLS_SPKI_FP: Final = "https://tinfoil.sh/key/spki-fp-sha256/v1"
KEY_X25519_HPKE: Final = "https://tinfoil.sh/key/x25519-hpke/v1"

COLL_AMD_VCEK: Final = "https://tinfoil.sh/collateral/amd-vcek/v1"
COLL_AMD_CRL: Final = "https://tinfoil.sh/collateral/amd-crl/v1"
COLL_INTEL_PCS: Final = "https://tinfoil.sh/collateral/intel-pcs/v1"
COLL_SIGSTORE_CODE: Final = "https://tinfoil.sh/collateral/sigstore-code/v1"
COLL_SIGSTORE_PLATFORM: Final = "https://tinfoil.sh/collateral/sigstore-platform/v1"
COLL_SIGSTORE_FRESHNESS: Final = "https://tinfoil.sh/collateral/sigstore-freshness/v1"

ROLE_ENDORSEMENT: Final = "endorsement"
ROLE_REFERENCE_VALUES: Final = "reference-values"
CPU_SUBJECT: Final = "cpu"
CODE_FRESHNESS_ID: Final = "code-freshness"
PLATFORM_FRESHNESS_ID: Final = "platform-freshness"

PLATFORM_ENDORSEMENTS_V1: Final = "https://tinfoil.sh/predicate/platform-endorsements/v1"
FRESHNESS_WITNESS_V1: Final = "https://tinfoil.sh/predicate/freshness-witness/v1"
PLATFORM_REPOSITORY: Final = "tinfoilsh/platform-endorsements"
FRESHNESS_REPOSITORY: Final = "tinfoilsh/freshness-witness"
RUNNER_GITHUB_HOSTED: Final = "github-hosted"

NONCE_SIZE: Final = 32
ENDPOINT_PATH: Final = "/.well-known/tinfoil-attestation"
MAX_DOCUMENT_BYTES: Final = 32 << 20
MAX_FRESHNESS_AGE: Final = dt.timedelta(days=7)
MAX_FRESHNESS_SKEW: Final = dt.timedelta(minutes=5)
MAX_SUBJECTS: Final = 1024
MAX_DIGESTS_PER_SUBJECT: Final = 32
