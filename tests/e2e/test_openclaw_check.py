"""`tests/e2e/openclaw_check.sh`: its cheap preconditions, and the opt-in end-to-end run.

The end-to-end run (marker `e2e`, deselected by default) installs Node 24 and `openclaw` from
npm: `python -m pytest -m e2e tests/e2e/test_openclaw_check.py`. It runs under the suite's
scratch HOME, so a write to HOME (npm's cache included) fails the session. The precondition
tests need no network: the script must refuse at once, before any download, when privproxy
cannot be imported or npm is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("openclaw_check.sh")


def _run(env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _fake_tool(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_refuses_a_python_without_privproxy_before_downloading(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm_called = tmp_path / "npm-called"
    _fake_tool(bin_dir, "npm", f"touch {npm_called}; exit 1")
    python = _fake_tool(bin_dir, "python-without-privproxy", "exit 1")
    env = {**os.environ, "PYTHON": str(python), "TMPDIR": str(tmp_path)}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    result = _run(env, timeout=30)
    assert result.returncode != 0
    assert "cannot import privproxy" in result.stderr
    assert not npm_called.exists()
    assert not list(tmp_path.glob("privproxy-openclaw.*"))  # no work directory either


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_refuses_without_npm_before_downloading(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A PATH with the interpreter but no npm: only what the script needs before npm.
    for tool in ("bash", "dirname", "env"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [str(bin_dir / "bash"), str(SCRIPT)],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "npm is needed" in result.stderr
    assert not list(tmp_path.glob("privproxy-openclaw.*"))


@pytest.mark.e2e
def test_openclaw_agent_turn_through_privproxy_demo() -> None:
    if shutil.which("bash") is None or shutil.which("npm") is None:
        pytest.skip("needs bash and npm")
    home = Path(os.environ["HOME"])  # the suite's scratch HOME (tests/conftest.py)
    before = sorted(home.rglob("*"))
    env = {**os.environ, "PYTHON": sys.executable}
    result = _run(env, timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "openclaw check: PASSED" in result.stdout
    assert sorted(home.rglob("*")) == before  # npm's cache and OpenClaw's state stayed out
