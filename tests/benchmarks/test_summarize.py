"""The benchmark summary: ratios per run, medians, and the verdict against each target."""

from __future__ import annotations

import json
from pathlib import Path

from tests.benchmarks.summarize import summarize


def _run(tmp: Path, name: str, ours: dict[str, object], base: dict[str, object]) -> Path:
    path = tmp / name / "results.json"
    path.parent.mkdir()
    results = [{"name": "OURS", **ours}, {"name": "PASSTHRU", **base}, {"name": "DIRECT"}]
    path.write_text(json.dumps({"machine": {}, "results": results}))
    return path


def test_medians_and_verdicts(tmp_path: Path) -> None:
    base = {"c64": {"cpu_us_req": 200.0}, "s64_cpu_us_event": 10.0, "big_ms": 30.0}
    runs = [
        _run(
            tmp_path,
            "a",
            {
                "c64": {"cpu_us_req": 380.0},
                "s64_cpu_us_event": 16.0,
                "big_ms": 30.0,
                "rss_idle_mb": 59.1,
                "s256_ok": "256/256",
            },
            base,
        ),
        _run(
            tmp_path,
            "b",
            {
                "c64": {"cpu_us_req": 420.0},
                "s64_cpu_us_event": 16.0,
                "big_ms": 45.0,
                "rss_idle_mb": 59.0,
                "s256_ok": "256/256",
            },
            base,
        ),
        _run(
            tmp_path,
            "c",
            {"c64": {"cpu_us_req": 390.0}, "s64_cpu_us_event": 12.0, "big_ms": 60.0},
            base,
        ),
    ]
    text = summarize(runs)
    assert "380 / 200 = 1.90x" in text
    assert "420 / 200 = 2.10x" in text  # a run above the limit is shown as it is
    last = text.splitlines()[-1]
    assert last.startswith("median over 3 run(s):")
    assert "cpu/req 1.95x (met)" in last
    assert "cpu/event 1.60x (NOT met)" in last
    assert "5MB 1.50x (met)" in last


def test_missing_target_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"machine": {}, "results": [{"name": "DIRECT"}]}))
    assert "OURS or PASSTHRU missing" in summarize([path])
