"""Cold fetch: 10k 1m bars that are not stored yet, from `synthetic`, through the gateway.

TimeBase path: `timebase.v1.GetBars` for a range nobody asked before (a new symbol each run): the
gateway fetches it from synthetic's columnar `GetHistoricalBars`, validates and stores it (upsert
and coverage in one transaction), reads it back and answers. Baseline: the same request sent to
the provider's own `GetHistoricalBars` directly. The split: provider = the direct call, answer =
the same `GetBars` again (now stored), store = the rest (validation, upsert, coverage).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
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
    ratio_text,
    serve,
)

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

START = datetime(2024, 1, 1, tzinfo=UTC)


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _count(chunks: Any) -> int:
    return sum(len(c.timestamps_us) for c in chunks)


def main() -> None:
    args = parse_args(__doc__ or "")
    results = Results(args.out, args.backend)
    bars = 1_000 if args.smoke else 10_000
    end = START + timedelta(minutes=bars)
    config = bench_config(providers={"enabled": ["synthetic"]})
    with serve(config, backend=args.backend) as served:
        provider_address = served.providers["synthetic"]
        with (
            grpc.insecure_channel(served.grpc) as gateway_channel,
            grpc.insecure_channel(provider_address) as provider_channel,
        ):
            gateway = v1_grpc.GatewayServiceStub(gateway_channel)
            provider = pb_grpc.DataProviderStub(provider_channel)
            totals: list[float] = []
            directs: list[float] = []
            answers: list[float] = []
            for run in range(RUNS + 1):  # the first is the warm-up
                symbol = f"SYN:COLD{run}"
                direct_request = pb.HistoricalDataRequest(
                    symbol=symbol, interval="1m", start_time=_ts(START), end_time=_ts(end)
                )
                gateway_request = v1.GetBarsRequest(
                    symbol=symbol, interval="1m", start_time=_ts(START), end_time=_ts(end)
                )
                started = time.perf_counter()
                n = _count(provider.GetHistoricalBars(direct_request, timeout=120))
                direct = time.perf_counter() - started
                assert n == bars, n
                started = time.perf_counter()
                n = _count(gateway.GetBars(gateway_request, timeout=120))
                total = time.perf_counter() - started
                assert n == bars, n
                started = time.perf_counter()
                n = _count(gateway.GetBars(gateway_request, timeout=120))
                answer = time.perf_counter() - started
                assert n == bars, n
                if run:
                    totals.append(total * 1000)
                    directs.append(direct * 1000)
                    answers.append(answer * 1000)
    total_s, direct_s, answer_s = Stat(tuple(totals)), Stat(tuple(directs)), Stat(tuple(answers))
    store_s = Stat(
        tuple(max(0.0, t - d - a) for t, d, a in zip(totals, directs, answers, strict=True))
    )
    ratio = total_s.median / direct_s.median
    scenario = f"cold fetch, {bars // 1000}k 1m bars from synthetic"
    results.add(
        Row(
            scenario,
            "gateway GetBars (fetch + store + answer)",
            fmt(total_s, "ms"),
            "provider's own GetHistoricalBars, called directly",
            fmt(direct_s, "ms"),
            ratio_text(ratio),
            "≤ 1.50×",
            ratio <= 1.5,
        )
    )
    results.add(
        Row(
            scenario,
            "split of the gateway's time",
            f"provider {fmt(direct_s, 'ms')} · store {fmt(store_s, 'ms')} · "
            f"answer {fmt(answer_s, 'ms')}",
        )
    )


if __name__ == "__main__":
    main()
