"""`privproxy verify` against a local server serving the real (or a mutated) bundle."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from privproxy.cli import verify as cmd_verify
from tests.attestation.realdata import (
    REAL_DIGEST,
    REAL_MEASUREMENT,
    amd_chain_files,
    dumps,
    flip,
    real_bundle,
    real_bundle_bytes,
    real_bundle_with_foreign_tls_key,
    report_of,
    synthetic_bundle,
    with_report,
)


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user cache, no env chains: roots only from --amd-cert-chain."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PRIVPROXY_AMD_CERT_CHAIN", raising=False)
    monkeypatch.delenv("PPQ_API_BASE", raising=False)


async def _serve(aiohttp_server: Any, body: bytes) -> TestServer:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/private/attestation", handler)
    server: TestServer = await aiohttp_server(app)
    return server


async def _verify(
    aiohttp_server: Any, body: bytes, *extra: str, chains_given: bool = True
) -> tuple[int, str]:
    server = await _serve(aiohttp_server, body)
    files = amd_chain_files() if chains_given else []
    chains = [a for p in files for a in ("--amd-cert-chain", str(p))]
    out = io.StringIO()
    argv = ["--api-base", str(server.make_url("")).rstrip("/"), *chains, *extra]
    # main() runs its own event loop; run it in a worker thread while the server serves here.
    code = await asyncio.to_thread(cmd_verify.main, argv, stdout=out)
    return code, out.getvalue()


@pytest.mark.usefixtures("isolated_env")
async def test_real_bundle_verifies(aiohttp_server: Any) -> None:
    code, out = await _verify(aiohttp_server, real_bundle_bytes())
    assert code == 0, out
    assert "tinfoilsh/confidential-model-router" in out
    assert REAL_DIGEST in out and REAL_MEASUREMENT in out
    for step in ("fetch", "parse", "hardware", "provenance", "measurement", "key_binding"):
        assert f"PASS  {step}" in out


@pytest.mark.usefixtures("isolated_env")
async def test_real_bundle_verifies_with_the_shipped_roots_alone(aiohttp_server: Any) -> None:
    code, out = await _verify(aiohttp_server, real_bundle_bytes(), chains_given=False)
    assert code == 0, out
    assert "VERIFIED inference.tinfoil.sh" in out
    assert "verifier          privproxy-attestation " in out
    assert "uses              dcap-qvl 0." in out  # the second TDX verifier, with its version
    code, out = await _verify(aiohttp_server, real_bundle_bytes(), "--json", chains_given=False)
    enclave = json.loads(out)["enclave"]
    assert code == 0 and len(enclave["verdicts"]) == 1  # SEV-SNP: one verifier
    names = {v["name"]: v["version"] for v in enclave["verifiers"]}
    assert set(names) == {"privproxy-attestation", "dcap-qvl"} and all(names.values())


@pytest.mark.usefixtures("isolated_env")
async def test_operator_trust_flags_are_applied(aiohttp_server: Any, tmp_path: Path) -> None:
    bad_root = tmp_path / "trusted_root.json"
    bad_root.write_text("{}")
    code, out = await _verify(
        aiohttp_server, real_bundle_bytes(), "--sigstore-trust-root", str(bad_root)
    )
    assert code == 1 and "TRUST_ROOT_INVALID" in out
    code, out = await _verify(aiohttp_server, real_bundle_bytes(), "--tdx-mr-seam-allow", "zz")
    assert code == 1 and "--tdx-mr-seam-allow must be hex" in out
    seam = "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4d" + "ab" * 16
    code, out = await _verify(aiohttp_server, real_bundle_bytes(), "--tdx-mr-seam-allow", seam)
    assert code == 0, out


@pytest.mark.usefixtures("isolated_env")
async def test_json_output(aiohttp_server: Any) -> None:
    code, out = await _verify(aiohttp_server, real_bundle_bytes(), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verified"] is True
    assert doc["enclave"]["release_digest"] == REAL_DIGEST
    assert doc["enclave"]["measurement_fingerprint"] == REAL_MEASUREMENT
    assert doc["steps"][0]["step"] == "fetch"


def _vcek_flipped() -> bytes:
    b = real_bundle()
    vcek = bytearray(base64.b64decode(b["vcek"]))
    vcek[-8] ^= 0xFF
    b["vcek"] = base64.b64encode(bytes(vcek)).decode()
    return dumps(b)


def _digest_changed() -> bytes:
    b = real_bundle()
    b["digest"] = "0" * 64
    return dumps(b)


def _report_flipped() -> bytes:
    b = real_bundle()
    return dumps(with_report(b, flip(report_of(b), 0x2A0)))


def _report_data_flipped() -> bytes:
    b = real_bundle()
    return dumps(with_report(b, flip(report_of(b), 0x50)))


def _san_changed() -> bytes:
    b = real_bundle()
    b["enclaveCert"] = json.loads(synthetic_bundle())["enclaveCert"]
    return dumps(b)


@pytest.mark.usefixtures("isolated_env")
@pytest.mark.parametrize(
    ("make", "step", "code"),
    [
        (_report_flipped, "hardware", "REPORT_SIGNATURE_INVALID"),
        (_report_data_flipped, "hardware", "REPORT_SIGNATURE_INVALID"),
        (_vcek_flipped, "hardware", "VCEK_CHAIN_INVALID"),
        (_digest_changed, "provenance", "SUBJECT_DIGEST_MISMATCH"),
        (_san_changed, "key_binding", "CERT_HPKE_KEY_MISMATCH"),
        (real_bundle_with_foreign_tls_key, "key_binding", "TLS_KEY_BINDING_MISMATCH"),
    ],
)
async def test_mutations_exit_10(aiohttp_server: Any, make: Any, step: str, code: str) -> None:
    exit_code, out = await _verify(aiohttp_server, make(), "--json")
    doc = json.loads(out)
    assert exit_code == 10
    assert doc["verified"] is False
    assert doc["error"]["step"] == step and doc["error"]["code"] == code


@pytest.mark.usefixtures("isolated_env")
async def test_text_failure_lists_skipped_steps(aiohttp_server: Any) -> None:
    exit_code, out = await _verify(aiohttp_server, _digest_changed())
    assert exit_code == 10
    assert "FAIL  provenance" in out and "SKIP  key_binding" in out and "NOT VERIFIED" in out


@pytest.mark.usefixtures("isolated_env")
async def test_unreachable_gateway_is_exit_1() -> None:
    out = io.StringIO()
    code = await asyncio.to_thread(
        cmd_verify.main, ["--api-base", "http://127.0.0.1:9", "--timeout", "2"], stdout=out
    )
    assert code == 1
    assert "FAIL  fetch" in out.getvalue()


def test_help_exits_0() -> None:
    with pytest.raises(SystemExit) as exc:
        cmd_verify.main(["--help"], stdout=io.StringIO())
    assert exc.value.code == 0


_IMPORT_PROBE = """
import json, sys
from privproxy.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


@pytest.mark.usefixtures("isolated_env")
async def test_start_up_imports_only_what_verification_needs(aiohttp_server: Any) -> None:
    """Start-up cost (issue: `privproxy verify` <= 1.0 s): an SEV-SNP verification in a fresh
    interpreter loads neither aiohttp's server, the proxy's settings/server modules, nor the TDX
    verifier."""
    server = await _serve(aiohttp_server, real_bundle_bytes())
    chains = [a for p in amd_chain_files() for a in ("--amd-cert-chain", str(p))]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _IMPORT_PROBE,
        "verify",
        "--api-base",
        str(server.make_url("")).rstrip("/"),
        *chains,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    report = json.loads(err.decode().strip().splitlines()[-1])
    assert report["code"] == 0, out.decode()
    modules = set(report["modules"])
    assert {"sigstore.verify", "attestation.sev", "attestation.tdx.policy"} <= modules
    unwanted = {
        "aiohttp.web",
        "privproxy.server.config",
        "privproxy.ops.log_setup",
        "privproxy.server.app",
        "attestation.tdx.evidence",
        "attestation.tdx.collateral_source",
        "attestation.tdx.hardware_source",
    }
    assert modules & unwanted == set()
