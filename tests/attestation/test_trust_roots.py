"""Roots and policy out of the box: everything ships with the package; operators may update it.

* The Sigstore trusted root ships with the package and is handed to `sigstore` through its
  public API; `--sigstore-trust-root FILE` replaces it.
* `--tdx-mr-seam-allow HEX` and `--sigstore-trust-root FILE` reach the proxy's settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attestation import trustdata
from attestation.errors import AttestationError, Code
from attestation.provenance.trust import SHIPPED_TRUST_ROOT, SigstoreTrust
from attestation.trust import Trust
from privproxy.server.config import ConfigError, Settings

MODULE_1_5_25 = (
    "fca4ff221293807e3d247416299ca39a236872df4eb414567ca96072"
    "d3fde7dead740f807eefe2f7d938499c03cc8aba"
)


def test_shipped_sigstore_root_is_the_production_default() -> None:
    trust = SigstoreTrust.production()
    assert trust.raw == trustdata.read(SHIPPED_TRUST_ROOT)
    doc = json.loads(trust.raw)
    assert any("rekor.sigstore.dev" in t.get("baseUrl", "") for t in doc["tlogs"])
    assert trust.material.certificate_authorities and trust.material.tlogs


def test_verifier_is_built_through_sigstores_public_api() -> None:
    from sigstore.verify import Verifier

    verifier = SigstoreTrust.production().verifier()
    assert isinstance(verifier, Verifier)
    assert SigstoreTrust.production().verifier() is not verifier  # one per trust object


def test_operator_root_file_replaces_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "trusted_root.json"
    path.write_bytes(trustdata.read(SHIPPED_TRUST_ROOT).replace(b"\n", b" "))
    trust = Trust.production(sigstore_trust_root=path)
    assert trust.sigstore is not None and trust.sigstore.raw == path.read_bytes()
    assert trust.sigstore.verifier() is not None


@pytest.mark.parametrize("content", [None, b"not json", b'{"mediaType": "other"}'])
def test_a_bad_operator_root_file_fails_closed(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "trusted_root.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AttestationError) as err:
        SigstoreTrust.from_file(path)
    assert err.value.code is Code.TRUST_ROOT_INVALID


def test_trust_flags_reach_the_settings(tmp_path: Path) -> None:
    root = tmp_path / "root.json"
    settings = Settings.from_env_and_args(
        {},
        ["--tdx-mr-seam-allow", MODULE_1_5_25, "--sigstore-trust-root", str(root)],
    )
    assert settings.tdx_mr_seam_allow == (bytes.fromhex(MODULE_1_5_25),)
    assert settings.sigstore_trust_root == root
    assert Settings.from_env_and_args({}, []).tdx_mr_seam_allow == ()
    for bad in ("zz", "ab" * 47):
        with pytest.raises(ConfigError):
            Settings.from_env_and_args({}, ["--tdx-mr-seam-allow", bad])
