"""Interop against an independent EHBP implementation (optional, marker `interop`).

The peer is a mock PPQ gateway + enclave written by another team (`bench/mock_gateway.py` in the
project's shared material, located by `PRIVPROXY_SHARED`, default `../shared`); it is not part of
this repository, so the test is deselected by default and `.ci/run` runs it where the peer exists.

Runs tests/benchmarks/interop.sh: the shared mock gateway (which *requires* EHBP and decrypts
with its own code), the proxy in unsafe-key mode with the mock's key, and the shared
`openai_sdk_check.py` (official SDK, non-stream and stream) through the proxy.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.interop


def test_openai_sdk_check_passes_through_proxy_against_shared_mock() -> None:
    bench = shared_path("bench", "mock_gateway.py").parent
    result = subprocess.run(
        ["bash", str(REPO / "tests" / "benchmarks" / "interop.sh")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "SHARED": str(bench.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output, output
