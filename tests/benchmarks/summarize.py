"""Summarise repeated ../shared/bench runs: the issue's targets as OURS/PASSTHRU ratios.

    python -m tests.benchmarks.summarize RUN_DIR/results.json [...]

One line per run, then the median of each ratio. On the two shared vCPUs a single run's
ratio moves by +-20 % (PASSTHRU's own CPU per request ranged 192-335 us between runs of the
same build), so targets are judged on the median of several full runs, and every run is
shown (docs/performance.md).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

TARGETS: tuple[tuple[str, str, float], ...] = (
    ("cpu/req", "c64.cpu_us_req", 2.0),
    ("cpu/event", "s64_cpu_us_event", 1.5),
    ("5MB", "big_ms", 1.5),
)
RSS_LIMIT_MB = 60.0


def _get(result: dict[str, Any], dotted: str) -> float | None:
    value: Any = result
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _by_name(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {r["name"]: r for r in data["results"]}


def summarize(paths: list[Path]) -> str:
    """The table for the runs in `paths` (each a bench.py `--json-out` file)."""
    lines = []
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in TARGETS}
    header = "run | " + " | ".join(f"{n} (<= {lim}x)" for n, _, lim in TARGETS)
    lines.append(header + " | RSS idle (MB) | 256 streams")
    for path in paths:
        runs = _by_name(path)
        ours, base = runs.get("OURS"), runs.get("PASSTHRU")
        if ours is None or base is None:
            lines.append(f"{path}: OURS or PASSTHRU missing")
            continue
        cells = []
        for name, key, _ in TARGETS:
            o, b = _get(ours, key), _get(base, key)
            if o is None or not b:
                cells.append("-")
                continue
            ratios[name].append(o / b)
            cells.append(f"{o:.4g} / {b:.4g} = {o / b:.2f}x")
        rss = _get(ours, "rss_idle_mb")
        cells.append(f"{rss:.1f}" if rss is not None else "-")
        cells.append(str(ours.get("s256_ok", "-")))
        lines.append(f"{path.parent.name} | " + " | ".join(cells))
    medians = []
    for name, _, limit in TARGETS:
        values = ratios[name]
        if values:
            med = statistics.median(values)
            medians.append(f"{name} {med:.2f}x ({'met' if med <= limit else 'NOT met'})")
    lines.append(f"median over {len(paths)} run(s): " + ", ".join(medians))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(summarize([Path(p) for p in argv]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
