"""The provider client: per-bar fallback for providers without GetHistoricalBars; the open end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyarrow as pa

from timebase.gateway.bar_columns import table_to_chunks
from timebase.gateway.derived_intervals import aggregate
from timebase.gateway.provider_client import ProviderClient
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.intervals import Interval
from timebase.store import BAR_SCHEMA

from .support import DAY, T0, RecordingProvider, request, running_gateway


class LegacyProvider(pb_grpc.DataProviderServicer):
    """An existing TimeBase provider: per-bar stream only (GetHistoricalBars is UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.calls = 0

    async def GetHistoricalData(
        self, request: pb.HistoricalDataRequest, context: Any
    ) -> AsyncIterator[pb.TimeSeriesData]:
        self.calls += 1
        start = request.start_time.ToDatetime(tzinfo=UTC)
        for d in range(3):
            msg = pb.TimeSeriesData(
                symbol=request.symbol,
                open=1,
                high=2,
                low=0.5,
                close=1.5,
                volume=10 + d,
                interval=request.interval,
                provider="legacy",
            )
            msg.timestamp.FromDatetime(start + d * DAY)
            if d == 1:
                msg.metadata["dividend"] = "0.5"
            yield msg


async def test_per_bar_fallback_is_used_and_remembered() -> None:
    server = grpc.aio.server()
    legacy = LegacyProvider()  # type: ignore[abstract]
    pb_grpc.add_DataProviderServicer_to_server(legacy, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = ProviderClient("legacy", f"127.0.0.1:{port}")
    try:
        for _ in range(2):
            tables = [t async for t in client.fetch("X", "1d", T0, T0 + 3 * DAY)]
            table = pa.concat_tables(tables)
            assert table.schema == BAR_SCHEMA
            assert table.column("volume").to_pylist() == [10, 11, 12]
            assert table.column("metadata").to_pylist() == [None, '{"dividend":"0.5"}', None]
        assert client.columnar is False
        assert legacy.calls == 2
    finally:
        await client.close()
        await server.stop(None)


async def test_limit_without_start_reaches_back_from_now(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha")
    async with running_gateway(fresh_database_url, alpha) as gw:
        got = [
            c async for c in gw.data.GetHistoricalBars(request("SYN:A", "1h", None, None, limit=5))
        ]
        stamps = [ts for c in got for ts in c.timestamps_us]
        assert len(stamps) == 5
        now_us = int(datetime.now(UTC).timestamp() * 1e6)
        assert now_us - 3_600_000_000 <= stamps[-1] <= now_us
        first_calls = len(alpha.requests)
        # Coverage stops at the bar in progress: the next query fetches only that bar again.
        again = [
            c async for c in gw.data.GetHistoricalBars(request("SYN:A", "1h", None, None, limit=5))
        ]
        assert [ts for c in again for ts in c.timestamps_us][:4] == stamps[:4]
        assert len(alpha.requests) == first_calls + 1
        _, _, start, end = alpha.requests[-1]
        assert end - start <= timedelta(hours=1)


def test_chunks_split_where_the_provider_changes_and_stay_small() -> None:
    n = 10
    table = pa.table(
        {
            "symbol": ["S"] * n,
            "timestamp": pa.array(
                [T0 + timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "open": [1.0] * n,
            "high": [2.0] * n,
            "low": [0.5] * n,
            "close": [1.5] * n,
            "volume": [1.0] * n,
            "interval": ["1h"] * n,
            "provider": ["a"] * 4 + ["b"] * 6,
            "metadata": pa.nulls(n, pa.string()),
        },
        schema=BAR_SCHEMA,
    )
    chunks = list(table_to_chunks(table, pb.BarChunk, max_rows=4))
    assert [(c.provider, len(c.timestamps_us)) for c in chunks] == [("a", 4), ("b", 4), ("b", 2)]
    assert all(len(c.metadata) == 0 for c in chunks)
    monthly = aggregate(table, Interval.MO1, Interval.H1)
    assert monthly.num_rows == 1
    assert monthly.column("timestamp")[0].as_py() == datetime(2024, 1, 1, tzinfo=UTC)
    assert monthly.column("provider")[0].as_py() == "a"
