"""Cached query latency (252 daily bars at concurrency 1, 10 and 100) and memory.

Latency: 252 daily bars of SYN:LATENCY, fetched once from `synthetic` and then served from the
store, through three doors: the `timebase.v1` columnar `GetBars`, the seed per-bar
`DataProvider.GetHistoricalData` stream and REST JSON. Floors in the same run: a bare grpc.aio
server (another process, like the gateway) yielding the same pre-built messages — the 252
`TimeSeriesData`, or the one columnar chunk. Clients: grpc.aio / aiohttp, one connection per
door, `concurrency` workers each sending its next query when the previous one is answered.

Memory: the gateway's RSS 1 s after the latency run ends (once quiet, the gateway gives freed
memory back within about 0.5 s: timebase/cli/memory.py), sampled 5 times; each provider add-on's
RSS (idle: nothing but the health probes, synthetic after answering the one fetch).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import orjson
from google.protobuf.timestamp_pb2 import Timestamp

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
    provider_pids,
    ratio_text,
    rss_mb,
    serve,
)
from _floor_server import write_messages

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

SYMBOL = "SYN:LATENCY"
BARS = 252
START = datetime(2023, 1, 2, tzinfo=UTC)
END = START + timedelta(days=BARS)
#: Seconds the gateway is left quiet before its RSS is sampled (it trims its heap once quiet).
QUIET_S = 1.0
Query = Callable[[], Awaitable[None]]


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


async def _load(query: Query, concurrency: int, total: int) -> tuple[list[float], float]:
    """Run `total` queries with `concurrency` workers; (latencies in s, queries per second)."""
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await query()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, total / (time.perf_counter() - started)


class Measured:
    """p50, p99 and throughput of each run."""

    def __init__(self) -> None:
        self.p50: list[float] = []
        self.p99: list[float] = []
        self.qps: list[float] = []

    def stat(self, name: str) -> Stat:
        return Stat(tuple(getattr(self, name)))


async def _measure(query: Query, concurrency: int, total: int, runs: int) -> Measured:
    measured = Measured()
    await _load(query, concurrency, max(concurrency, total // 5))  # warm-up
    for _ in range(runs):
        latencies, qps = await _load(query, concurrency, total)
        measured.p50.append(percentile(latencies, 50) * 1000)
        measured.p99.append(percentile(latencies, 99) * 1000)
        measured.qps.append(qps)
    return measured


def _columnar(channel: grpc.aio.Channel) -> Query:
    stub = v1_grpc.GatewayServiceStub(channel)
    request = v1.GetBarsRequest(
        symbol=SYMBOL, interval="1d", start_time=_ts(START), end_time=_ts(END)
    )

    async def query() -> None:
        n = 0
        async for chunk in stub.GetBars(request):
            n += len(chunk.timestamps_us)
        assert n == BARS, n

    return query


def _per_bar(channel: grpc.aio.Channel) -> Query:
    stub = pb_grpc.DataProviderStub(channel)
    request = pb.HistoricalDataRequest(
        symbol=SYMBOL, interval="1d", start_time=_ts(START), end_time=_ts(END)
    )

    async def query() -> None:
        n = 0
        async for _ in stub.GetHistoricalData(request):
            n += 1
        assert n == BARS, n

    return query


def _rest(session: aiohttp.ClientSession, base: str) -> Query:
    url = (
        f"{base}/api/data/{SYMBOL}?interval=1d&start={START:%Y-%m-%dT%H:%M:%SZ}"
        f"&end={END:%Y-%m-%dT%H:%M:%SZ}"
    )

    async def query() -> None:
        async with session.get(url) as response:
            body = orjson.loads(await response.read())
        assert len(body["data"]["data"]) == BARS, body

    return query


async def run(served_grpc: str, rest: str, smoke: bool, results: Results) -> None:
    # Smoke: a few queries and 3 runs (it checks the script, not the figures).
    totals = {1: 5, 10: 10, 100: 100} if smoke else {1: 200, 10: 500, 100: 1000}
    runs = 3 if smoke else RUNS
    async with grpc.aio.insecure_channel(served_grpc) as channel:
        # The cold fetch (synthetic → store), then the messages the floors will serve.
        stub = v1_grpc.GatewayServiceStub(channel)
        chunks = [
            c
            async for c in stub.GetBars(
                v1.GetBarsRequest(
                    symbol=SYMBOL, interval="1d", start_time=_ts(START), end_time=_ts(END)
                )
            )
        ]
        request = pb.HistoricalDataRequest(
            symbol=SYMBOL, interval="1d", start_time=_ts(START), end_time=_ts(END)
        )
        bars = [b async for b in pb_grpc.DataProviderStub(channel).GetHistoricalData(request)]
        assert sum(len(c.timestamps_us) for c in chunks) == BARS
        assert len(bars) == BARS
        with tempfile.TemporaryDirectory(prefix="timebase-bench-floor-") as tmp:
            messages = Path(tmp) / "messages.bin"
            write_messages(messages, chunks, bars)
            floor = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).parent / "_floor_server.py"),
                str(messages),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            try:
                assert floor.stdout is not None
                port = (await floor.stdout.readline()).decode().strip()
                await _run_doors(
                    channel, f"127.0.0.1:{port}", rest, totals=totals, runs=runs, results=results
                )
            finally:
                if floor.stdin is not None:
                    floor.stdin.close()
                try:
                    await asyncio.wait_for(floor.wait(), 10)
                except TimeoutError:
                    floor.kill()
                    await floor.wait()


async def _run_doors(
    channel: grpc.aio.Channel,
    floor_address: str,
    rest: str,
    *,
    totals: dict[int, int],
    runs: int,
    results: Results,
) -> None:
    connector = aiohttp.TCPConnector(limit=max(totals))
    async with (
        grpc.aio.insecure_channel(floor_address) as floor_channel,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        doors: dict[str, Query] = {
            "columnar": _columnar(channel),
            "per_bar": _per_bar(channel),
            "rest": _rest(session, rest),
            "floor_columnar": _columnar(floor_channel),
            "floor_per_bar": _per_bar(floor_channel),
        }
        for concurrency, total in totals.items():
            m = {name: await _measure(q, concurrency, total, runs) for name, q in doors.items()}
            scenario = f"cached query latency, 252 daily bars, concurrency {concurrency}"
            _latency_rows(results, scenario, concurrency, m)


def _lat(m: Measured, concurrency: int) -> str:
    text = f"p50 {fmt(m.stat('p50'), 'ms')} · p99 {fmt(m.stat('p99'), 'ms')}"
    if concurrency >= 100:
        text = f"{fmt(m.stat('qps'), 'q/s')} · p99 {fmt(m.stat('p99'), 'ms')}"
    return text


def _latency_rows(
    results: Results, scenario: str, concurrency: int, m: dict[str, Measured]
) -> None:
    col, per_bar, rest = m["columnar"], m["per_bar"], m["rest"]
    fcol, fbar = m["floor_columnar"], m["floor_per_bar"]
    col_ratio = col.stat("p50").median / fcol.stat("p50").median
    bar_ratio = per_bar.stat("p50").median / fbar.stat("p50").median
    if concurrency == 1:
        p50, p99 = col.stat("p50").median, col.stat("p99").median
        results.add(
            Row(
                scenario,
                "timebase.v1 GetBars (columnar)",
                _lat(col, 1),
                "bare grpc.aio: 1 pre-built columnar message",
                _lat(fcol, 1),
                f"{ratio_text(col_ratio)} (p50)",
                "p50 ≤ 2 ms, p99 ≤ 8 ms",
                p50 <= 2.0 and p99 <= 8.0,
            )
        )
        results.add(
            Row(
                scenario,
                "seed GetHistoricalData stream (252 messages)",
                _lat(per_bar, 1),
                "bare grpc.aio: 252 pre-built messages",
                _lat(fbar, 1),
                f"{ratio_text(bar_ratio)} (p50)",
                "≤ 1.50× its floor",
                bar_ratio <= 1.5,
            )
        )
        results.add(
            Row(
                scenario,
                "REST JSON",
                _lat(rest, 1),
                target="p99 ≤ 25 ms",
                met=rest.stat("p99").median <= 25.0,
            )
        )
        return
    if concurrency >= 100:
        col_ratio = col.stat("qps").median / fcol.stat("qps").median
        bar_ratio = per_bar.stat("qps").median / fbar.stat("qps").median
        kind = "throughput"
    else:
        kind = "p50"
    # At 100 clients the columnar RPC's throughput has a target: ≥ 0.8× its floor's (#14).
    target = "≥ 0.80× its floor" if concurrency >= 100 else "report"
    results.add(
        Row(
            scenario,
            "timebase.v1 GetBars (columnar)",
            _lat(col, concurrency),
            "bare grpc.aio: 1 pre-built columnar message",
            _lat(fcol, concurrency),
            f"{ratio_text(col_ratio)} ({kind})",
            target,
            col_ratio >= 0.8 if concurrency >= 100 else None,
        )
    )
    results.add(
        Row(
            scenario,
            "seed GetHistoricalData stream (252 messages)",
            _lat(per_bar, concurrency),
            "bare grpc.aio: 252 pre-built messages",
            _lat(fbar, concurrency),
            f"{ratio_text(bar_ratio)} ({kind})",
        )
    )
    results.add(Row(scenario, "REST JSON", _lat(rest, concurrency)))


def _memory(results: Results, gateway_pid: int) -> None:
    time.sleep(QUIET_S)
    samples = []
    for _ in range(RUNS):
        samples.append(rss_mb(gateway_pid))
        time.sleep(0.1)
    gateway = Stat(tuple(samples))
    results.add(
        Row(
            "memory",
            "gateway RSS 1 s after the latency run",
            fmt(gateway, "MB"),
            target="≤ 200 MB",
            met=gateway.median <= 200.0,
        )
    )
    for slug, pid in sorted(provider_pids(gateway_pid).items()):
        samples = []
        for _ in range(RUNS):
            samples.append(rss_mb(pid))
            time.sleep(0.1)
        rss = Stat(tuple(samples))
        results.add(
            Row(
                "memory",
                f"provider {slug} RSS, idle",
                fmt(rss, "MB"),
                target="≤ 150 MB",
                met=rss.median <= 150.0,
            )
        )


def main() -> None:
    args = parse_args(__doc__ or "")
    results = Results(args.out, args.backend)
    # Every bundled provider runs (memory is measured for each of them).
    with serve(bench_config(), backend=args.backend) as served:
        asyncio.run(run(served.grpc, served.rest, args.smoke, results))
        _memory(results, served.proc.pid)


if __name__ == "__main__":
    main()
