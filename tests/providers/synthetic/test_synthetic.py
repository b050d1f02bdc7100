"""Synthetic provider: determinism across range splits, alignment, gaps, real-time, speed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Manifest, ProviderServer
from timebase.sdk.testing import check_rows, fetch_chunk_rows, fetch_rows
from timebase.sdk.wire import Row, to_timestamp_pb

ROOT = Path(__file__).resolve().parents[3]
JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)


def req(
    symbol: str, interval: str, start: datetime, end: datetime, **kw: Any
) -> pb.HistoricalDataRequest:
    return pb.HistoricalDataRequest(
        symbol=symbol,
        interval=interval,
        start_time=to_timestamp_pb(start),
        end_time=to_timestamp_pb(end),
        **kw,
    )


@pytest.fixture
async def stub(inprocess_target: str) -> AsyncIterator[pb_grpc.DataProviderAsyncStub]:
    async with grpc.aio.insecure_channel(inprocess_target) as channel:
        yield pb_grpc.DataProviderStub(channel)


@pytest.mark.parametrize("interval", ["1m", "15m", "1h", "1d"])
async def test_any_split_of_a_range_gives_identical_rows(
    stub: pb_grpc.DataProviderAsyncStub, interval: str
) -> None:
    whole = await fetch_chunk_rows(stub, req("SYN:ACME", interval, JAN, FEB))
    cuts = [
        JAN,
        datetime(2024, 1, 7, 13, 17, 42, 123456, tzinfo=UTC),
        datetime(2024, 1, 19, 0, 0, 30, tzinfo=UTC),
        FEB,
    ]
    parts: list[Row] = []
    for a, b in itertools.pairwise(cuts):
        parts.extend(await fetch_chunk_rows(stub, req("SYN:ACME", interval, a, b)))
    assert parts == whole
    assert (
        len(whole)
        == (FEB - JAN)
        // {
            "1m": timedelta(minutes=1),
            "15m": timedelta(minutes=15),
            "1h": timedelta(hours=1),
            "1d": timedelta(days=1),
        }[interval]
    )
    # Per-bar RPC gives exactly the same rows (44k single messages for 1m: checked on a week).
    end = JAN + timedelta(days=7) if interval == "1m" else FEB
    per_bar = await fetch_rows(stub, req("SYN:ACME", interval, JAN, end))
    assert per_bar == [r for r in whole if r.timestamp < end]


async def test_same_request_twice_and_in_a_new_process_is_identical(
    stub: pb_grpc.DataProviderAsyncStub, process_target: str
) -> None:
    first = await fetch_rows(stub, req("SYN:ACME", "1h", JAN, FEB))
    assert await fetch_rows(stub, req("syn:acme", "1h", JAN, FEB)) == first
    async with grpc.aio.insecure_channel(process_target) as channel:
        other = pb_grpc.DataProviderStub(channel)
        assert await fetch_rows(other, req("SYN:ACME", "1h", JAN, FEB)) == first


async def test_get_symbols_lists_the_documented_sample(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    """GetSymbols: exactly the sample the provider's README documents (any other SYN: symbol
    is served all the same, but not listed)."""
    reply = await stub.GetSymbols(empty_pb2.Empty(), timeout=10)
    listed = [
        (s.symbol, s.name, s.type, list(s.intervals), dict(s.metadata)) for s in reply.symbols
    ]
    assert listed == [
        ("SYN:ACME", "Acme Corporation (synthetic)", "equity", [], {}),
        ("SYN:GLOBEX", "Globex Corporation (synthetic)", "equity", [], {}),
        ("SYN:INITECH", "Initech (synthetic)", "equity", [], {}),
        ("SYN:INDEX", "Synthetic index", "index", [], {}),
        ("SYN:COIN", "Synthetic coin", "crypto", [], {}),
    ]
    readme = await asyncio.to_thread((ROOT / "providers" / "synthetic" / "README.md").read_text)
    catalogue = " ".join(readme.split("- **Catalogue**:", 1)[1].split("\n- ", 1)[0].split())
    assert catalogue.startswith(
        "`GetSymbols` lists a documented sample — `SYN:ACME`, `SYN:GLOBEX` and `SYN:INITECH` "
        "(type `equity`), `SYN:INDEX` (`index`) and `SYN:COIN` (`crypto`)."
    )


async def test_symbols_differ_and_prices_are_positive(stub: pb_grpc.DataProviderAsyncStub) -> None:
    a = await fetch_chunk_rows(stub, req("SYN:AAA", "1d", datetime(2000, 1, 1, tzinfo=UTC), FEB))
    b = await fetch_chunk_rows(stub, req("SYN:BBB", "1d", datetime(2000, 1, 1, tzinfo=UTC), FEB))
    assert [r.close for r in a] != [r.close for r in b]
    for rows in (a, b):
        check_rows(rows, "1d", datetime(2000, 1, 1, tzinfo=UTC), FEB)
        assert min(r.low for r in rows) > 0
        assert len({r.close for r in rows}) > len(rows) // 2  # it moves


async def test_weekly_on_mondays_monthly_on_the_first(stub: pb_grpc.DataProviderAsyncStub) -> None:
    weeks = await fetch_rows(stub, req("SYN:ACME", "1wk", JAN, datetime(2024, 7, 1, tzinfo=UTC)))
    assert weeks
    assert all(r.timestamp.weekday() == 0 and r.timestamp.time().hour == 0 for r in weeks)
    months = await fetch_rows(
        stub,
        req(
            "SYN:ACME", "1mo", datetime(2023, 12, 15, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
        ),
    )
    assert [r.timestamp.month for r in months] == [1, 2, 3, 4, 5, 6]
    assert all(r.timestamp.day == 1 for r in months)


async def test_limit_is_most_recent_bars(stub: pb_grpc.DataProviderAsyncStub) -> None:
    full = await fetch_chunk_rows(stub, req("SYN:ACME", "5m", JAN, FEB))
    assert await fetch_chunk_rows(stub, req("SYN:ACME", "5m", JAN, FEB, limit=10)) == full[-10:]


async def test_skip_weekends_option(synthetic: ModuleType, manifest: Manifest) -> None:
    provider = synthetic.SyntheticProvider(
        manifest, manifest.validate_options({"skip_weekends": True})
    )
    async with (
        ProviderServer(provider) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = pb_grpc.DataProviderStub(channel)
        days = await fetch_rows(stub, req("SYN:ACME", "1d", JAN, FEB))
        hours = await fetch_rows(stub, req("SYN:ACME", "1h", JAN, FEB))
        limited = await fetch_rows(stub, req("SYN:ACME", "1h", JAN, FEB, limit=30))
    assert len(days) == 23
    assert all(r.timestamp.weekday() < 5 for r in days + hours)
    assert len(hours) == 23 * 24
    assert limited == hours[-30:]


async def test_real_time_bars_on_a_configurable_clock(
    synthetic: ModuleType, manifest: Manifest
) -> None:
    options = manifest.validate_options({"realtime_interval_seconds": 0.05})
    provider = synthetic.SyntheticProvider(manifest, options)
    async with (
        ProviderServer(provider) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = pb_grpc.DataProviderStub(channel)

        async def controls() -> AsyncIterator[pb.StreamControl]:
            yield pb.StreamControl(
                action=pb.StreamControl.SUBSCRIBE, symbol="syn:acme", interval="1m"
            )
            yield pb.StreamControl(
                action=pb.StreamControl.SUBSCRIBE, symbol="SYN:BETA", interval="1d"
            )
            await asyncio_sleep_forever()

        call = stub.StreamRealTimeData(controls())
        seen: list[pb.TimeSeriesData] = []
        async with asyncio.timeout(30):  # a guard against a hang, not a speed claim
            async for msg in call:
                seen.append(msg)
                if {m.symbol for m in seen} == {"SYN:ACME", "SYN:BETA"} and len(seen) >= 4:
                    break
        call.cancel()
    for msg in seen:
        assert msg.provider == "synthetic"
        assert msg.low <= min(msg.open, msg.close) <= max(msg.open, msg.close) <= msg.high
        assert msg.metadata["final"] in ("true", "false")
    assert {(m.symbol, m.interval) for m in seen} == {("SYN:ACME", "1m"), ("SYN:BETA", "1d")}


async def test_real_time_rejects_foreign_symbols(inprocess_target: str) -> None:
    async with grpc.aio.insecure_channel(inprocess_target) as channel:
        stub = pb_grpc.DataProviderStub(channel)

        async def controls() -> AsyncIterator[pb.StreamControl]:
            yield pb.StreamControl(action=pb.StreamControl.SUBSCRIBE, symbol="AAPL", interval="1m")
            await asyncio_sleep_forever()

        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in stub.StreamRealTimeData(controls()):
                pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith(
        "symbol: 'AAPL' is not served by provider 'synthetic'"
    )


async def test_large_range_streams_every_bar_once_in_order(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    # Its speed is measured in benchmarks/ (cold.py fetches from synthetic), not here.
    stamps: list[int] = []
    async for chunk in stub.GetHistoricalBars(
        req("SYN:BULK", "1m", JAN, datetime(2024, 4, 1, tzinfo=UTC))
    ):
        stamps.extend(chunk.timestamps_us)
    first = int(JAN.timestamp()) * 1_000_000
    assert stamps == [first + i * 60_000_000 for i in range(91 * 1440)]


async def asyncio_sleep_forever() -> None:
    await asyncio.Event().wait()
