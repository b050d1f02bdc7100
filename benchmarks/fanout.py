"""Real-time fan-out: 1,000 subscriber streams of 10 symbols (100 per symbol), 1 s updates.

`synthetic` runs with `realtime_interval_seconds: 1.0`: each subscribed (symbol, 1m) gets the bar
in progress once a second (and the final bar at each minute). 1,000 gRPC `StreamRealTimeData`
streams (10 client channels) each subscribe to one of SYN:RT0 … SYN:RT9; the gateway's hub holds
one upstream subscription per symbol and fans each update out to 100 streams.

Figures per 4 s window (5 windows after a warm-up window):
- delivery lag: for each update (same symbol, bar and values), each stream's receive time minus
  the first stream's receive time of that update — the time the fan-out takes to reach everyone
  (the provider → gateway hop is one message per symbol and not included); p99 over the window;
- dropped subscriptions: streams that ended, failed, got a gap warning or received nothing in a
  window. The target is zero.
"""

from __future__ import annotations

import asyncio
import contextlib
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

SYMBOLS = [f"SYN:RT{k}" for k in range(10)]
CHANNELS = 10


class Fanout:
    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        #: update key → receive times (one per stream that got it)
        self.received: dict[tuple[Any, ...], list[float]] = defaultdict(list)
        self.counts = [0] * subscribers
        self.failed: set[int] = set()
        self.gaps: set[int] = set()
        self.stop = asyncio.Event()
        #: Set once every stream has received its first message.
        self.all_connected = asyncio.Event()
        self.connected = 0

    async def controls(self, symbol: str) -> AsyncIterator[pb.StreamControl]:
        yield pb.StreamControl(action=pb.StreamControl.SUBSCRIBE, symbol=symbol, interval="1m")
        await self.stop.wait()

    async def subscriber(self, index: int, channel: grpc.aio.Channel) -> None:
        stub = pb_grpc.DataProviderStub(channel)
        call = stub.StreamRealTimeData(self.controls(SYMBOLS[index % len(SYMBOLS)]))
        try:
            async for msg in call:
                now = time.perf_counter()
                if not msg.HasField("timestamp"):
                    self.gaps.add(index)
                    continue
                key = (
                    msg.symbol,
                    msg.timestamp.seconds,
                    msg.close,
                    msg.volume,
                    msg.metadata.get("final", ""),
                )
                self.received[key].append(now)
                if not self.counts[index]:
                    self.connected += 1
                    if self.connected == self.subscribers:
                        self.all_connected.set()
                self.counts[index] += 1
        except grpc.aio.AioRpcError as exc:
            if not self.stop.is_set():
                print(f"  stream {index}: {exc.code()} {exc.details()}", file=sys.stderr)
                self.failed.add(index)
        finally:
            call.cancel()
        if not self.stop.is_set():
            self.failed.add(index)

    def window(self) -> tuple[list[float], list[int]]:
        """Lags (ms) of the updates received so far, and the message count of each stream;
        then start a new window."""
        lags = [(t - min(times)) * 1000 for times in self.received.values() for t in times]
        counts, self.counts = self.counts, [0] * self.subscribers
        self.received = defaultdict(list)
        return lags, counts


async def run(address: str, subscribers: int, window: float, runs: int, results: Results) -> None:
    fanout = Fanout(subscribers)
    channels = [grpc.aio.insecure_channel(address) for _ in range(CHANNELS)]
    tasks = [
        asyncio.create_task(fanout.subscriber(i, channels[i % CHANNELS]))
        for i in range(subscribers)
    ]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fanout.all_connected.wait(), 60)
        connected = fanout.connected
        await asyncio.sleep(window)  # warm-up window
        fanout.window()
        p99s: list[float] = []
        rates: list[float] = []
        silent: set[int] = set()
        for _ in range(runs):
            started = time.perf_counter()
            await asyncio.sleep(window)
            lags, counts = fanout.window()
            elapsed = time.perf_counter() - started
            p99s.append(percentile(lags, 99) if lags else float("nan"))
            rates.append(sum(counts) / elapsed)
            silent |= {i for i, c in enumerate(counts) if c == 0}
    finally:
        fanout.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close(None)
    dropped = (fanout.failed | fanout.gaps | silent) | set(range(connected, subscribers))
    lag = Stat(tuple(p99s))
    delivered = Stat(tuple(rates))
    results.add(
        Row(
            "real-time fan-out",
            f"{subscribers:,} gRPC StreamRealTimeData subscribers of {len(SYMBOLS)} symbols, "
            "1 s updates",
            f"p99 lag {fmt(lag, 'ms')} · {fmt(delivered, 'msg/s')} · {len(dropped)} dropped",
            target="0 dropped; p99 lag reported",
            met=not dropped,
            note="",
            extra={"failed": len(fanout.failed), "gaps": len(fanout.gaps), "silent": len(silent)},
        )
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    results = Results(args.out)
    subscribers = 20 if args.smoke else 1000
    # Smoke: 3 short windows (it checks the script, not the figures).
    window, runs = (1.2, 3) if args.smoke else (4.0, RUNS)
    config = bench_config(
        providers={
            "enabled": ["synthetic"],
            "settings": {"synthetic": {"options": {"realtime_interval_seconds": 1.0}}},
        }
    )
    with serve(config) as served:
        asyncio.run(run(served.grpc, subscribers, window, runs, results))


if __name__ == "__main__":
    main()
