"""Profile the gateway under one benchmark workload with py-spy: where its time goes.

    python benchmarks/profile_gateway.py hot       # repeated Flight reads of 1M stored 1m bars
    python benchmarks/profile_gateway.py latency   # cached GetBars of 252 daily bars, 10 clients
    python benchmarks/profile_gateway.py fanout    # 2,000 real-time streams of 20 symbols
    python benchmarks/profile_gateway.py cold      # cold GetBars of 10k 1m bars, a new symbol each

`timebase serve` starts as in the benchmarks; py-spy (a sampling profiler attached from outside,
so the gateway runs unchanged; installed into a side venv under the cache directory, never into
.venv) records every thread of the gateway process for `--seconds` while the workload runs. It
prints the functions with the most samples: "self" (the function itself was running) and
"total" (anywhere on the stack), as a share of all samples. docs/benchmarks.md's "What limits
the targets" quotes these. Exit status 0 with a message when py-spy cannot be installed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import available_backends, bench_config, serve, side_venv


def _hot(served: object, stop: threading.Event) -> None:
    from adbc_driver_postgresql import dbapi
    from bulk import PROVIDER, START, _flight_read, seed_sql
    from pyarrow import flight

    rows = 1_000_000
    with dbapi.connect(served.database_url, autocommit=True) as db, db.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(seed_sql("BENCH", rows))
        cur.execute("VACUUM ANALYZE bars_intraday")
    query = {"symbol": "BENCH", "interval": "1m", "provider": PROVIDER,
             "start": START.isoformat(), "end": (START + timedelta(minutes=rows)).isoformat()}  # fmt: skip
    client = flight.connect(served.flight)  # type: ignore[attr-defined]
    _flight_read(client, query, rows)
    ready.set()
    while not stop.is_set():
        _flight_read(client, query, rows)
    client.close()


def _latency(served: object, stop: threading.Event) -> None:
    import grpc
    from latency import _columnar

    async def run() -> None:
        async with grpc.aio.insecure_channel(served.grpc) as channel:  # type: ignore[attr-defined]
            query = _columnar(channel)
            await query()  # the cold fetch
            ready.set()

            async def client() -> None:
                while not stop.is_set():
                    await query()

            await asyncio.gather(*(client() for _ in range(10)))

    asyncio.run(run())


def _fanout(served: object, stop: threading.Event) -> None:
    from fanout import run, symbols

    ready.set()
    run(served.grpc, 2000, symbols(20), 4.0, 4)  # type: ignore[attr-defined]


def _cold(served: object, stop: threading.Event) -> None:
    import grpc
    from cold import START, _count, _ts

    from timebase.v1 import bars_pb2 as v1
    from timebase.v1 import bars_pb2_grpc as v1_grpc

    end = START + timedelta(minutes=10_000)
    with grpc.insecure_channel(served.grpc) as channel:  # type: ignore[attr-defined]
        gateway = v1_grpc.GatewayServiceStub(channel)
        run = 0
        while not stop.is_set():
            request = v1.GetBarsRequest(
                symbol=f"SYN:PROF{run}", interval="1m", start_time=_ts(START), end_time=_ts(end)
            )
            assert _count(gateway.GetBars(request, timeout=120)) == 10_000
            run += 1
            ready.set()


ready = threading.Event()
WORKLOADS = {"hot": _hot, "latency": _latency, "fanout": _fanout, "cold": _cold}


def cpu_seconds(gateway: int, data_dir: str) -> dict[str, float]:
    """CPU seconds used so far: the gateway, its PostgreSQL (the postmaster under `data_dir`,
    detached from the gateway by pg_ctl, and its backends), the provider processes."""
    import psutil

    used = {"gateway": 0.0, "postgres": 0.0, "providers": 0.0}
    root = psutil.Process(gateway)
    postgres: list[psutil.Process] = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and data_dir in " ".join(proc.info["cmdline"] or ()):
            postgres += [proc, *proc.children(recursive=True)]
    groups = {"gateway": [root], "postgres": postgres, "providers": root.children(recursive=True)}
    for kind, procs in groups.items():
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            used[kind] += times.user + times.system + times.children_user + times.children_system
    return used


def _frame(frame: str) -> str:
    """`fn (/path/to/file.py:12)` → `fn (file.py)`."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    return f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1].rstrip(')')})"


def summarize(raw: str, top: int) -> str:
    """py-spy's collapsed stacks → the functions with the most samples (self and total)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        samples += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"{samples} samples", "", "self  function"]
    lines += [f"{n / samples:5.1%} {f}" for f, n in own.most_common(top)]
    lines += ["", "total function"]
    lines += [f"{n / samples:5.1%} {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=tuple(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backend", choices=("postgres", "timescaledb"), default="postgres")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--native", action="store_true", help="native frames too (C/C++)")
    args = parser.parse_args()
    if args.backend not in available_backends():
        print(f"{args.backend} is not available here", file=sys.stderr)
        return 2
    tools = side_venv("tools", ["py-spy>=0.3"])
    if tools is None:
        print("py-spy could not be installed: no profile", file=sys.stderr)
        return 0
    py_spy = tools.parent / "py-spy"
    config = bench_config(
        providers={
            "enabled": ["synthetic"],
            "settings": {"synthetic": {"options": {"realtime_interval_seconds": 1.0}}},
        }
    )
    with serve(config, backend=args.backend) as served, tempfile.TemporaryDirectory() as tmp:
        stop = threading.Event()
        worker = threading.Thread(target=WORKLOADS[args.workload], args=(served, stop))
        worker.start()
        ready.wait(600)
        time.sleep(1.0)
        out = Path(tmp) / "profile.txt"
        data_dir = str(served.log.parent)
        before = cpu_seconds(served.proc.pid, data_dir)
        command = [str(py_spy), "record", "--pid", str(served.proc.pid), "--duration",
                   str(int(args.seconds)), "--format", "raw", "--threads", "--output", str(out)]  # fmt: skip
        subprocess.run(
            command + (["--native"] if args.native else ["--nonblocking"]),
            check=True,
            capture_output=True,
            text=True,
        )
        after = cpu_seconds(served.proc.pid, data_dir)
        stop.set()
        worker.join()
        print(f"# {args.workload} on {args.backend}, {args.seconds:.0f} s")
        print(
            "CPU (cores busy): "
            + ", ".join(f"{k} {(after[k] - before.get(k, 0.0)) / args.seconds:.2f}" for k in after)
        )
        print(summarize(out.read_text(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
