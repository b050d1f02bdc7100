"""`benchmarks/run.py --smoke`: every scenario script runs at tiny sizes and the table has a row
for every scenario. Speed is not asserted here (shared machines); `make bench` measures it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from timebase.store.embedded import timescaledb_installed

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "bulk read",
    "repeated bulk read (hot)",
    "bulk ingest",
    "cached query latency, 252 daily bars, concurrency 1",
    "cached query latency, 252 daily bars, concurrency 10",
    "cached query latency, 252 daily bars, concurrency 100",
    "cold fetch",
    "memory",
    "memory (container images)",
    "real-time fan-out",
    "storage per 1m bar",
    "storage per 1d bar",
)


@pytest.mark.timeout(900)
def test_smoke_run_prints_one_table_with_every_scenario(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--write", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=880, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| scenario | TimeBase path | TimeBase | baseline |"), lines
    rows = [line.split(" | ")[0].removeprefix("| ") for line in lines[2:]]
    for scenario in SCENARIOS:
        assert any(row.startswith(scenario) for row in rows), (scenario, rows)
    # The scenario list here is the one run.py checks against.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert tuple(run.SCENARIOS) == SCENARIOS
    text = report.read_text()
    assert "machine:" in text
    assert "versions:" in text
    assert "Python" in text
    assert lines[0] in text
    # Side-environment baselines are skipped in smoke mode, with the reason in the table.
    assert "skipped in smoke mode" in text
    # Every scenario that serves runs on each backend there is (storage compares both itself).
    on_timescale = {row.split(" · ")[0] for row in rows if " · TimescaleDB" in row}
    on_postgres = {row.split(" · ")[0] for row in rows if " · PostgreSQL" in row}
    assert {"bulk read", "cold fetch, 1k 1m bars from synthetic", "real-time fan-out"} <= (
        on_postgres
    ), rows
    assert on_timescale == (on_postgres if timescaledb_installed() else set()), rows
