"""Test configuration: where the test data lives, and the hermeticity guard.

Every fixture, vector and schema the tests read is in `tests/data/` (sources in
`tests/data/SOURCES.md`). The only material read from outside the repository is the optional
interop peer (an independent mock gateway, marker `interop`), deselected by default.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SHARED = Path(os.environ.get("PRIVPROXY_SHARED", REPO.parent / "shared"))


def data_path(*parts: str) -> Path:
    """Path under tests/data; a missing file is an error of the repository, never a skip."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"tests/data/{'/'.join(parts)} is missing from the repository")
    return path


def shared_path(*parts: str) -> Path:
    """Path under the optional external material (only for tests marked `interop`)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present: the interop peer is optional external material")
    return path


# --- hermeticity guard ------------------------------------------------------------------------
# Tests must never write to the user's home directory. The whole session runs with HOME and the
# XDG base directories pointed at an empty scratch directory; anything found there at the end
# fails the run and is listed, so a leak is caught rather than silently tolerated.
_SCRATCH_HOME = Path(tempfile.mkdtemp(prefix="privproxy-test-home-"))
_HOME_VARS = ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME")


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ["HOME"] = str(_SCRATCH_HOME)
    for var in _HOME_VARS[1:]:
        os.environ.pop(var, None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    written = sorted(str(p.relative_to(_SCRATCH_HOME)) for p in _SCRATCH_HOME.rglob("*"))
    shutil.rmtree(_SCRATCH_HOME, ignore_errors=True)
    if written:
        print(f"\nERROR: tests wrote into the home directory: {written[:20]}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
