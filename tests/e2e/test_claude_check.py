"""Opt-in: run `tests/e2e/claude_check.sh` (installs `@anthropic-ai/claude-code` from npm).

Skipped by default (`-m 'not e2e'` in pyproject); run with `.venv/bin/pytest -m e2e tests/e2e`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("claude_check.sh")


@pytest.mark.e2e
def test_claude_code_turns_through_privproxy_demo() -> None:
    if shutil.which("bash") is None or shutil.which("npm") is None:
        pytest.skip("needs bash and npm")
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "claude check: PASSED" in result.stdout
    assert "tool: turns=" in result.stdout
