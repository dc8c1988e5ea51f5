"""Opt-in: run `tests/e2e/codex_check.sh` (installs `@openai/codex` from npm into a temporary
folder, runs a plain and a tool turn of Codex against `privproxy demo` over the Responses API).

Skipped by default (`-m 'not e2e'` in pyproject); run with `.venv/bin/pytest -m e2e tests/e2e`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("codex_check.sh")


@pytest.mark.e2e
def test_codex_plain_and_tool_turn_through_privproxy_demo() -> None:
    if shutil.which("bash") is None or shutil.which("npm") is None:
        pytest.skip("needs bash and npm")
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "plain turn: PASS" in output and "tool turn: PASS" in output
    assert "codex check: PASSED" in output
