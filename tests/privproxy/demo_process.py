"""`privproxy demo` run as a user runs it, for tests: a subprocess on a free port, with a
throwaway HOME and XDG directories and no proxy or token settings from the caller's
environment."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A loopback port free at the time of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without proxy settings or `PRIVPROXY_TOKEN`, with `home`
    as HOME and the XDG state and cache directories below it, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("PRIVPROXY_TOKEN", None)
    env.update(
        HOME=str(home), XDG_STATE_HOME=str(home / "s"), XDG_CACHE_HOME=str(home / "c"), **extra
    )
    return env


@dataclass
class DemoRun:
    """A running demo: its port, its process and what it printed (all of it once the
    `running_demo` block has ended)."""

    port: int
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def running_demo(
    home: Path, *args: str, ready: str = "is ready on", env: dict[str, str] | None = None
) -> AsyncIterator[DemoRun]:
    """`privproxy demo --port <free> *args`, output (stdout and stderr) read until a line
    holds `ready` (60 s at most); on leaving, SIGTERM if it still runs, and the rest of its
    output read (30 s at most)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "privproxy", "demo", "--port", str(port), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=demo_env(home) if env is None else env,
    )  # fmt: skip
    assert proc.stdout is not None
    run = DemoRun(port, proc)
    try:
        async with asyncio.timeout(60):
            while not any(ready in line for line in run.lines):
                line = (await proc.stdout.readline()).decode()
                assert line, f"demo exited early: {run.lines}"
                run.lines.append(line)
        yield run
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        run.lines += rest.decode().splitlines(keepends=True)


__all__ = ["DemoRun", "demo_env", "free_port", "running_demo"]
