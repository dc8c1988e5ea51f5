"""The real v3 document: accepted inside its freshness window, each mutation refused by code."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from attestation.errors import AttestationError, Code, Step, v3_layer
from attestation.models import SNP_TDX_MULTIPLATFORM_V1, Platform, VerifiedEnclave
from attestation.v3 import verify_document
from attestation.v3.document import parse_document
from attestation.v3.verifier import check_endorsed
from tests.attestation.v3.realdoc import (
    DEADLINE,
    DOMAIN,
    EARLIEST,
    PINNED_TIME,
    REAL_CHIP,
    REAL_DIGEST,
    REAL_HPKE,
    REAL_NONCE,
    REAL_TLS_FP,
    REPOSITORY,
    dumps,
    entry,
    flip_b64,
    production_trust,
    real_bytes,
    real_doc,
)
from tests.conftest import data_path

TRUST = production_trust()


def _verify(
    document: bytes, *, now: dt.datetime = PINNED_TIME, nonce: bytes = REAL_NONCE
) -> VerifiedEnclave:
    return verify_document(
        document, nonce=nonce, repository=REPOSITORY, trust=TRUST, now=now, domain=DOMAIN
    )


def _rejected(document: bytes, **kwargs: Any) -> AttestationError:
    with pytest.raises(AttestationError) as info:
        _verify(document, **kwargs)
    return info.value


@pytest.mark.parametrize(
    "now",
    [PINNED_TIME, EARLIEST, DEADLINE - dt.timedelta(minutes=1)],
    ids=["pinned", "earliest", "just-before-deadline"],
)
def test_real_document_verifies_inside_its_window(now: dt.datetime) -> None:
    seen: list[Step] = []
    result = verify_document(
        real_bytes(),
        nonce=REAL_NONCE,
        repository=REPOSITORY,
        trust=TRUST,
        now=now,
        domain=DOMAIN,
        on_step=lambda s: seen.append(s.step),
    )
    assert result.attestation_format == "v3"
    assert result.platform is Platform.SEV_SNP
    assert result.hpke_public_key.hex() == REAL_HPKE
    assert result.tls_key_fingerprint == REAL_TLS_FP
    assert result.release_digest == REAL_DIGEST
    assert result.repository == REPOSITORY
    assert result.freshness_expires_at == DEADLINE
    assert result.platform_policy == "amd-genoa-prod"
    assert result.device_items == 0
    assert result.verifiers and result.verifiers[0].endswith("accepted")
    assert result.code_measurement.type == SNP_TDX_MULTIPLATFORM_V1
    assert result.hardware_measurement.registers[0] == result.code_measurement.registers[0]
    assert seen == [
        Step.PARSE,
        Step.PROVENANCE,
        Step.FRESHNESS,
        Step.ENDORSEMENT,
        Step.FRESHNESS,
        Step.HARDWARE,
        Step.POLICY,
        Step.KEY_BINDING,
    ]


def test_reserialised_outer_json_still_verifies() -> None:
    # The sections are hashed as received; the outer JSON's formatting carries no meaning.
    doc = real_doc()
    doc["collateral"].reverse()  # lookups go by role and format, never by position
    assert _verify(dumps(doc)).hpke_public_key.hex() == REAL_HPKE


@pytest.mark.parametrize(
    ("now", "code"),
    [
        (DEADLINE + dt.timedelta(seconds=1), Code.V3_PROV_FRESHNESS_STALE),
        (dt.datetime(2026, 12, 3, tzinfo=dt.UTC), Code.V3_PROV_FRESHNESS_STALE),
        (EARLIEST - dt.timedelta(seconds=1), Code.V3_PROV_FRESHNESS_FUTURE),
    ],
    ids=["after-deadline", "december", "before-witness"],
)
def test_real_document_outside_its_window_is_refused_for_freshness(
    now: dt.datetime, code: Code
) -> None:
    err = _rejected(real_bytes(), now=now)
    assert (err.code, err.step) == (code, Step.FRESHNESS)
    assert v3_layer(err.code) == "PROVENANCE_REJECTED"


def test_another_nonce_is_refused() -> None:
    err = _rejected(real_bytes(), nonce=bytes(32))
    assert (err.code, err.step) == (Code.V3_ENV_NONCE_MISMATCH, Step.PARSE)


def _mutate(edit: Callable[[dict[str, Any]], None]) -> bytes:
    doc = real_doc()
    edit(doc)
    return dumps(doc)


def _bundle_signature(ident: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        sig = entry(doc, ident)["data"]["sigstore_bundle"]["dsseEnvelope"]["signatures"][0]
        sig["sig"] = flip_b64(sig["sig"], 20)

    return edit


def _set(path: tuple[str, ...], value: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value(node[path[-1]])

    return edit


def _vcek(doc: dict[str, Any]) -> None:
    data = entry(doc, "cpu-endorsement")["data"]
    data["vcek_der_base64"] = flip_b64(data["vcek_der_base64"], -10)  # in the signature


def _ask(doc: dict[str, Any]) -> None:
    data = entry(doc, "cpu-endorsement")["data"]
    pem: str = data["cert_chain_pem"]
    i = pem.index("\n", 40) + 10  # a base64 character inside the first (ASK) certificate
    data["cert_chain_pem"] = pem[:i] + ("A" if pem[i] != "A" else "B") + pem[i + 1 :]


def _crl(doc: dict[str, Any]) -> None:
    data = entry(doc, "cpu-crl")["data"]
    data["crl_der_base64"] = flip_b64(data["crl_der_base64"], -5)


def _swap_witnesses(doc: dict[str, Any]) -> None:
    code, platform = entry(doc, "code-freshness"), entry(doc, "platform-freshness")
    code["id"], platform["id"] = "platform-freshness", "code-freshness"


def _flip_hpke_digit(section: str) -> str:
    """One byte of the HPKE key's hex ('4' -> '5'): still a valid section, other bytes."""
    raw = base64.b64decode(section)
    return flip_b64(section, raw.index(REAL_HPKE.encode()))


def _widen_items(section: str) -> str:
    """One byte more whitespace in the (empty) device list: same meaning, other bytes."""
    raw = base64.b64decode(section)
    assert raw.count(b"[]") == 1
    return base64.b64encode(raw.replace(b"[]", b"[ ]")).decode()


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], Code, Step]] = {
    "crypto_material byte": (
        _set(("crypto_material",), _flip_hpke_digit),
        Code.V3_ENV_CM_HASH_MISMATCH,
        Step.PARSE,
    ),
    "device_evidence byte": (
        _set(("device_evidence",), _widen_items),
        Code.V3_ENV_DE_HASH_MISMATCH,
        Step.PARSE,
    ),
    "report_data echo": (
        _set(("challenge", "report_data"), lambda v: "0" + v[1:] if v[0] != "0" else "1" + v[1:]),
        Code.V3_ENV_REPORT_DATA_MISMATCH,
        Step.PARSE,
    ),
    "document nonce": (
        _set(("challenge", "nonce"), lambda v: "00" + v[2:]),
        Code.V3_ENV_NONCE_MISMATCH,
        Step.PARSE,
    ),
    "SEV report signature": (
        _set(("cpu_evidence", "report_base64"), lambda v: flip_b64(v, 0x2A0)),
        Code.V3_QUOTE_SIGNATURE,
        Step.HARDWARE,
    ),
    "SEV report measurement": (
        _set(("cpu_evidence", "report_base64"), lambda v: flip_b64(v, 0x90)),
        Code.V3_QUOTE_SIGNATURE,
        Step.HARDWARE,
    ),
    "VCEK certificate": (_vcek, Code.V3_QUOTE_CHAIN, Step.HARDWARE),
    "ASK certificate": (_ask, Code.V3_QUOTE_CHAIN, Step.HARDWARE),
    "AMD CRL": (_crl, Code.V3_QUOTE_CHAIN, Step.HARDWARE),
    "code bundle": (_bundle_signature("code"), Code.V3_PROV_SIGSTORE_VERIFY, Step.PROVENANCE),
    "code witness bundle": (
        _bundle_signature("code-freshness"),
        Code.V3_PROV_SIGSTORE_VERIFY,
        Step.FRESHNESS,
    ),
    "platform bundle": (
        _bundle_signature("platform"),
        Code.V3_PROV_SIGSTORE_VERIFY,
        Step.ENDORSEMENT,
    ),
    "platform witness bundle": (
        _bundle_signature("platform-freshness"),
        Code.V3_PROV_SIGSTORE_VERIFY,
        Step.FRESHNESS,
    ),
    "code digest": (
        lambda d: entry(d, "code")["data"].update(digest="0" * 64),
        Code.V3_PROV_SUBJECT_DIGEST,
        Step.PROVENANCE,
    ),
    "code tag": (
        lambda d: entry(d, "code")["data"].update(tag="v0.0.140"),
        Code.V3_PROV_SOURCE_REF,
        Step.PROVENANCE,
    ),
    "platform repo": (
        lambda d: entry(d, "platform")["data"].update(repo="evil/platform-endorsements"),
        Code.V3_PROV_PLATFORM_REPO,
        Step.ENDORSEMENT,
    ),
    "code witness missing": (
        lambda d: d["collateral"].remove(entry(d, "code-freshness")),
        Code.V3_PROV_FRESHNESS_MISSING,
        Step.FRESHNESS,
    ),
    "witness swapped": (
        _swap_witnesses,
        Code.V3_PROV_FRESHNESS_STATEMENT,  # it witnesses the other artifact
        Step.FRESHNESS,
    ),
    "code entry missing": (
        lambda d: d["collateral"].remove(entry(d, "code")),
        Code.V3_PROV_CODE_MISSING,
        Step.PROVENANCE,
    ),
    "platform entry missing": (
        lambda d: d["collateral"].remove(entry(d, "platform")),
        Code.V3_PROV_PLATFORM_MISSING,
        Step.ENDORSEMENT,
    ),
    "CRL entry missing": (
        lambda d: d["collateral"].remove(entry(d, "cpu-crl")),
        Code.V3_QUOTE_COLLATERAL_MISSING,
        Step.HARDWARE,
    ),
    "code bundle media type of the wrong type": (
        lambda d: entry(d, "code")["data"]["sigstore_bundle"].update(mediaType=[]),
        Code.V3_PROV_BUNDLE_MEDIA_TYPE,
        Step.PROVENANCE,
    ),
    "code repo of the wrong type": (
        lambda d: entry(d, "code")["data"].update(repo=[]),
        Code.V3_PROV_COLLATERAL_PARSE,
        Step.PROVENANCE,
    ),
    "unknown member": (lambda d: d.update(extra=1), Code.V3_ENV_UNKNOWN_MEMBER, Step.PARSE),
    "format": (
        _set(("format",), lambda v: v.replace("v3", "v4")),
        Code.V3_ENV_BAD_FORMAT,
        Step.PARSE,
    ),
    "cpu format": (
        _set(("cpu_evidence", "format"), lambda v: v.replace("sev-snp", "sev")),
        Code.V3_QUOTE_FORMAT_UNSUPPORTED,
        Step.HARDWARE,
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_of_the_real_document_is_refused_with_its_code(name: str) -> None:
    edit, code, step = MUTATIONS[name]
    err = _rejected(_mutate(edit))
    assert (err.code, err.step) == (code, step), str(err)


def test_wrong_pinned_repository_is_refused() -> None:
    with pytest.raises(AttestationError) as info:
        verify_document(
            real_bytes(),
            nonce=REAL_NONCE,
            repository="tinfoilsh/confidential-debug",
            trust=TRUST,
            now=PINNED_TIME,
            domain=DOMAIN,
        )
    assert info.value.code is Code.V3_PROV_IDENTITY


def test_duplicate_member_and_noncanonical_base64_are_refused() -> None:
    raw = real_bytes()
    duplicated = raw.replace(b'"format":', b'"format":"x","format":', 1)
    assert _rejected(duplicated).code is Code.V3_ENV_DUPLICATE_MEMBER
    doc = real_doc()
    de = doc["device_evidence"]
    assert de.endswith("==")  # the last character before the padding has slack bits
    doc["device_evidence"] = de[:-3] + chr(ord(de[-3]) + 1) + "=="
    assert base64.b64decode(doc["device_evidence"]) == base64.b64decode(de)
    assert _rejected(dumps(doc)).code is Code.V3_ENV_NONCANONICAL_BASE64


@pytest.mark.parametrize("name", ["router-sev-2026-06-29.body", "gemma-tdx-2026-06-29.body"])
def test_prototype_captures_are_an_unsupported_format(name: str) -> None:
    body = data_path("v3", "prototype", name).read_bytes()
    assert json.loads(body)["format"] == "https://tinfoil.sh/predicate/attestation/v3"
    err = _rejected(body)
    assert (err.code, err.step) == (Code.V3_ENV_UNSUPPORTED_FORMAT, Step.PARSE)
    assert v3_layer(err.code) == "ENVELOPE_REJECTED"


# -- the policy step on the real, authenticated report with edited endorsements ----------


@pytest.fixture(scope="module")
def real_parts() -> tuple[Any, Any, Any, bytes]:
    from attestation.v3.binding import check_bindings
    from attestation.v3.references import verify_code, verify_platform
    from attestation.v3.sev import authenticate_sev

    doc = parse_document(real_bytes())
    report_data = check_bindings(doc, REAL_NONCE)
    sigstore = TRUST.require_sigstore()
    code = verify_code(doc, repository=REPOSITORY, trust=sigstore)
    platform = verify_platform(doc, trust=sigstore)
    sev = authenticate_sev(doc, trust=TRUST.amd, now=PINNED_TIME)
    return platform.endorsements, sev, code.measurement, report_data


def test_real_chip_is_endorsed(real_parts: tuple[Any, Any, Any, bytes]) -> None:
    endorsements, sev, measurement, report_data = real_parts
    assert sev.identity == REAL_CHIP
    assert check_endorsed(endorsements, sev, measurement, report_data).name == "amd-genoa-prod"


def test_endorsement_for_a_different_machine_is_refused(
    real_parts: tuple[Any, Any, Any, bytes],
) -> None:
    endorsements, sev, measurement, report_data = real_parts
    machines = {k: v for k, v in endorsements.machines.items() if k != REAL_CHIP}
    machines["ab" * 64] = "amd-genoa-prod"  # the same policy, for another chip
    other = dataclasses.replace(endorsements, machines=machines)
    with pytest.raises(AttestationError) as info:
        check_endorsed(other, sev, measurement, report_data)
    assert (info.value.code, info.value.step) == (Code.V3_POLICY_NOT_ENDORSED, Step.POLICY)


def test_chip_endorsed_under_a_tdx_policy_is_refused(
    real_parts: tuple[Any, Any, Any, bytes],
) -> None:
    endorsements, sev, measurement, report_data = real_parts
    other = dataclasses.replace(
        endorsements, machines={**endorsements.machines, REAL_CHIP: "tdx-h200-prod"}
    )
    with pytest.raises(AttestationError) as info:
        check_endorsed(other, sev, measurement, report_data)
    assert info.value.code is Code.V3_POLICY_PLATFORM_MISMATCH


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"vmpl": 1}, Code.V3_POLICY_FIELDS),
        ({"minimum_build": 41}, Code.V3_POLICY_TCB),
        (
            {"minimum_tcb": {"bl_spl": 11, "tee_spl": 0, "snp_spl": 0, "ucode_spl": 0}},
            Code.V3_POLICY_TCB,
        ),
        ({"host_data": b"\x01" * 32}, Code.V3_POLICY_FIELDS),
    ],
    ids=["vmpl", "build", "tcb", "host_data"],
)
def test_stricter_signed_policy_is_refused(
    real_parts: tuple[Any, Any, Any, bytes], change: dict[str, Any], code: Code
) -> None:
    endorsements, sev, measurement, report_data = real_parts
    named = endorsements.policies["amd-genoa-prod"]
    assert named.sev_snp is not None
    stricter = dataclasses.replace(named, sev_snp=dataclasses.replace(named.sev_snp, **change))
    other = dataclasses.replace(
        endorsements, policies={**endorsements.policies, "amd-genoa-prod": stricter}
    )
    with pytest.raises(AttestationError) as info:
        check_endorsed(other, sev, measurement, report_data)
    assert info.value.code is code


@pytest.mark.parametrize(
    ("flag", "group", "code"),
    [
        ("smt", "guest_policy", Code.V3_POLICY_GUEST_POLICY),
        ("ecc_enabled", "platform_info", Code.V3_POLICY_PLATFORM_INFO),
        ("rapl_disabled", "platform_info", Code.V3_POLICY_PLATFORM_INFO),
    ],
)
def test_guest_policy_and_platform_info_must_match_exactly(
    real_parts: tuple[Any, Any, Any, bytes], flag: str, group: str, code: Code
) -> None:
    endorsements, sev, measurement, report_data = real_parts
    named = endorsements.policies["amd-genoa-prod"]
    assert named.sev_snp is not None
    flags = dict(getattr(named.sev_snp, group))
    flags[flag] = not flags[flag]
    stricter = dataclasses.replace(
        named, sev_snp=dataclasses.replace(named.sev_snp, **{group: flags})
    )
    other = dataclasses.replace(
        endorsements, policies={**endorsements.policies, "amd-genoa-prod": stricter}
    )
    with pytest.raises(AttestationError) as info:
        check_endorsed(other, sev, measurement, report_data)
    assert info.value.code is code


def test_amd_crl_outside_its_window_is_refused() -> None:
    from attestation.v3.sev import authenticate_sev

    doc = parse_document(real_bytes())
    later = dt.datetime(2026, 9, 9, 0, 0, 1, tzinfo=dt.UTC)  # one second after nextUpdate
    with pytest.raises(AttestationError) as info:
        authenticate_sev(doc, trust=TRUST.amd, now=later)
    assert info.value.code is Code.V3_QUOTE_CRL_WINDOW
    inside = authenticate_sev(doc, trust=TRUST.amd, now=later - dt.timedelta(seconds=2))
    assert inside.identity == REAL_CHIP


def test_report_base64_is_the_decoded_report() -> None:
    doc = parse_document(real_bytes())
    raw = base64.b64decode(real_doc()["cpu_evidence"]["report_base64"])
    assert doc.cpu_report == raw and len(raw) == 1184


def test_conformance_fixture_verdict_is_reproduced() -> None:
    """The conformance fixture's own inputs (nonce, repo, pinned time) give its verdict."""
    fixture = json.loads(
        data_path("v3", "conformance__real-sev-inference-tinfoil.json").read_bytes()
    )
    assert fixture["stage"] == "verify-attestation-v3"
    given = fixture["input"]
    document = base64.b64decode(given["document_b64"])
    assert document == real_bytes()  # the decoded copy in tests/data is byte-exact
    result = verify_document(
        document,
        nonce=bytes.fromhex(given["nonce_hex"]),
        repository=given["repo"],
        trust=TRUST,
        now=dt.datetime.fromtimestamp(given["verification_time_unix"], tz=dt.UTC),
        domain=DOMAIN,
    )
    assert fixture["expected"] == {"accepted": True}
    assert result.attestation_format == "v3"
