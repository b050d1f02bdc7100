"""Real-time fan-out: 10,000 subscriber streams of 100 symbols (100 per symbol), 1 s updates,
the clients spread over 4 processes.

`synthetic` runs with `realtime_interval_seconds: 1.0`: each subscribed (symbol, 1m) gets the bar
in progress once a second (and the final bar at each minute). Each client process opens its
share of the gRPC `StreamRealTimeData` streams (over 10 channels of its own), each subscribed to
one of SYN:RT000 … SYN:RT099; the gateway's hub holds one upstream subscription per symbol and
fans each update out to its 100 streams.

Once every process has all its streams connected (each received its first message), the parent
starts the windows at one wall-clock instant: a warm-up window, then 5 measured ones of 4 s.
Figures per window, over all processes:
- delivery lag: for each update (same symbol, bar and values), each stream's receive time minus
  the first receive time of that update in any process (wall clock, one machine) — the time the
  fan-out takes to reach everyone (the provider → gateway hop is one message per symbol and not
  included); p99 over the window;
- dropped subscriptions: streams that ended, failed, got a gap warning, never connected or
  received nothing in a window. The target is zero.

    python fanout.py --worker ADDRESS FIRST COUNT SYMBOLS   # one client process (internal)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RUNS,
    Results,
    Row,
    Stat,
    bench_config,
    fmt,
    parse_args,
    percentile,
    serve,
)

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc

PROCESSES = 4
CHANNELS_PER_PROCESS = 10
CONNECT_TIMEOUT = 180.0


def symbols(count: int) -> list[str]:
    return [f"SYN:RT{k:03d}" for k in range(count)]


# -- one client process ------------------------------------------------------------------------


class Streams:
    """`count` subscriber streams (global indexes first … first+count-1) in this process."""

    def __init__(self, first: int, count: int, names: list[str]) -> None:
        self.first, self.count, self.names = first, count, names
        self.stop = asyncio.Event()
        self.connected = 0
        self.all_connected = asyncio.Event()
        self.failed: set[int] = set()
        self.gaps: set[int] = set()
        #: (window start, window end) of the windows to record; set by the parent's GO.
        self.windows: list[tuple[float, float]] = []
        #: per window: update key → receive times; message count per stream
        self.received: list[dict[str, list[float]]] = []
        self.counts: list[list[int]] = []

    async def controls(self, symbol: str) -> AsyncIterator[pb.StreamControl]:
        yield pb.StreamControl(action=pb.StreamControl.SUBSCRIBE, symbol=symbol, interval="1m")
        await self.stop.wait()

    def _window(self, now: float) -> int | None:
        for k, (start, end) in enumerate(self.windows):
            if start <= now < end:
                return k
        return None

    async def subscriber(self, index: int, channel: grpc.aio.Channel) -> None:
        stub = pb_grpc.DataProviderStub(channel)
        call = stub.StreamRealTimeData(self.controls(self.names[index % len(self.names)]))
        seen = False
        try:
            async for msg in call:
                now = time.time()
                if not msg.HasField("timestamp"):
                    self.gaps.add(index)
                    continue
                if not seen:
                    seen = True
                    self.connected += 1
                    if self.connected == self.count:
                        self.all_connected.set()
                window = self._window(now)
                if window is None:
                    continue
                key = (
                    f"{msg.symbol}|{msg.timestamp.seconds}|{msg.close!r}|{msg.volume!r}|"
                    f"{msg.metadata.get('final', '')}"
                )
                self.received[window][key].append(now)
                self.counts[window][index - self.first] += 1
        except grpc.aio.AioRpcError as exc:
            if not self.stop.is_set():
                print(f"  stream {index}: {exc.code()} {exc.details()}", file=sys.stderr)
                self.failed.add(index)
        finally:
            call.cancel()
        if not self.stop.is_set():
            self.failed.add(index)


async def worker(address: str, first: int, count: int, names: list[str]) -> None:
    streams = Streams(first, count, names)
    channels = [grpc.aio.insecure_channel(address) for _ in range(CHANNELS_PER_PROCESS)]
    tasks = [
        asyncio.create_task(streams.subscriber(i, channels[i % CHANNELS_PER_PROCESS]))
        for i in range(first, first + count)
    ]
    loop = asyncio.get_running_loop()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(streams.all_connected.wait(), CONNECT_TIMEOUT)
        print(json.dumps({"connected": streams.connected}), flush=True)
        go = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
        start, window, runs = float(go["start"]), float(go["window"]), int(go["runs"])
        streams.received = [defaultdict(list) for _ in range(runs)]
        streams.counts = [[0] * count for _ in range(runs)]
        streams.windows = [(start + k * window, start + (k + 1) * window) for k in range(runs)]
        await asyncio.sleep(max(0.0, start + runs * window - time.time()) + 0.2)
    finally:
        streams.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close(None)
    print(
        json.dumps(
            {
                "first": first,
                "connected": streams.connected,
                "failed": sorted(streams.failed),
                "gaps": sorted(streams.gaps),
                "received": streams.received,
                "counts": streams.counts,
            }
        ),
        flush=True,
    )


# -- the parent --------------------------------------------------------------------------------


def run(address: str, subscribers: int, names: list[str], window: float, runs: int) -> Row:
    share = -(-subscribers // PROCESSES)
    procs: list[subprocess.Popen[str]] = []
    for first in range(0, subscribers, share):
        count = min(share, subscribers - first)
        command = [sys.executable, __file__, "--worker", address, str(first), str(count)]
        command.append(str(len(names)))
        procs.append(
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    try:
        connected = 0
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            connected += json.loads(line)["connected"] if line else 0
        # A warm-up window first, then the measured ones, at the same instant in every process.
        go = {"start": time.time() + 0.5 + window, "window": window, "runs": runs}
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(go) + "\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            assert proc.stdout is not None
            reports.append(json.loads(proc.stdout.readline()))
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return _row(subscribers, len(names), reports, connected, window, runs)


def _row(  # noqa: PLR0917
    subscribers: int,
    symbol_count: int,
    reports: list[dict[str, Any]],
    connected: int,
    window: float,
    runs: int,
) -> Row:
    failed = {i for r in reports for i in r["failed"]}
    gaps = {i for r in reports for i in r["gaps"]}
    silent: set[int] = set()
    p99s: list[float] = []
    rates: list[float] = []
    for k in range(runs):
        received: dict[str, list[float]] = defaultdict(list)
        for r in reports:
            for key, times in r["received"][k].items():
                received[key] += times
        lags = [(t - min(times)) * 1000 for times in received.values() for t in times]
        p99s.append(percentile(lags, 99) if lags else float("nan"))
        messages = 0
        for r in reports:
            counts = r["counts"][k]
            messages += sum(counts)
            silent |= {r["first"] + i for i, c in enumerate(counts) if c == 0}
        rates.append(messages / window)
    never = subscribers - connected  # silent too: they received nothing
    dropped = len(failed | gaps | silent)
    lag, delivered = Stat(tuple(p99s)), Stat(tuple(rates))
    return Row(
        "real-time fan-out",
        f"{subscribers:,} gRPC StreamRealTimeData subscribers of {symbol_count} symbols, 1 s "
        f"updates, clients in {len(reports)} processes",
        f"p99 lag {fmt(lag, 'ms')} · {fmt(delivered, 'msg/s')} · {dropped} dropped",
        target="0 dropped; p99 lag reported",
        met=dropped == 0,
        extra={"failed": len(failed), "gaps": len(gaps), "silent": len(silent),
               "never_connected": never},
    )  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        address, first, count, symbol_count = sys.argv[2:6]
        asyncio.run(worker(address, int(first), int(count), symbols(int(symbol_count))))
        return
    args = parse_args(__doc__ or "")
    results = Results(args.out, args.backend)
    # Smoke: 40 streams of 4 symbols and 2 short windows (it checks the script, not the figures).
    subscribers, names = (40, symbols(4)) if args.smoke else (10_000, symbols(100))
    window, runs = (2.5, 2) if args.smoke else (4.0, RUNS)
    config = bench_config(
        providers={
            "enabled": ["synthetic"],
            "settings": {"synthetic": {"options": {"realtime_interval_seconds": 1.0}}},
        }
    )
    with serve(config, backend=args.backend) as served:
        results.add(run(served.grpc, subscribers, names, window, runs))


if __name__ == "__main__":
    main()
