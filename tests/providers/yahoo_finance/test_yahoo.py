"""yahoo-finance on recorded Yahoo chart-API responses: exact values, keys, metadata, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest

from tests.providers.yahoo_finance.conftest import RECORDINGS, load_module
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Manifest, retry_after_from_metadata
from timebase.sdk.testing import fetch_chunk_rows, fetch_rows
from timebase.sdk.wire import Row, to_timestamp_pb

NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(utc(year, month, day, hour, minute).timestamp()) * 1_000_000


def request(symbol: str, interval: str, start: datetime, end: datetime, **kw: Any) -> Any:
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


async def rows(stub: pb_grpc.DataProviderAsyncStub, *args: Any, **kw: Any) -> list[Row]:
    req = request(*args, **kw)
    per_bar = await fetch_rows(stub, req)
    assert await fetch_chunk_rows(stub, req) == per_bar
    return per_bar


# Read at import (not on the event loop): the recorded chart results, by file name.
_RECORDED = {p.name: json.loads(p.read_text()) for p in RECORDINGS.glob("*.json")}


def recording(name: str) -> dict[str, Any]:
    result: dict[str, Any] = _RECORDED[name]["chart"]["result"][0]
    return result


async def test_daily_bars_keyed_by_trading_date_with_dividend(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    got = await rows(stub, "AAPL", "1d", utc(2024, 1, 29), utc(2024, 2, 17))
    assert len(got) == 15
    assert got[0] == Row(
        us(2024, 1, 29), 192.00999450683594, 192.1999969482422, 189.5800018310547,
        191.72999572753906, 47145600.0, (("adj_close", "191.23016357421875"),),
    )  # fmt: skip
    ex_div = next(r for r in got if r.ts_us == us(2024, 2, 9))
    assert ex_div == Row(
        us(2024, 2, 9), 188.64999389648438, 189.99000549316406, 188.0, 188.85000610351562,
        45155200.0, (("adj_close", "188.5980682373047"), ("dividend", "0.24")),
    )  # fmt: skip
    assert sum(1 for r in got if dict(r.metadata).get("dividend")) == 1
    # Every bar is the recorded one, keyed at 00:00 UTC of its New York trading date.
    rec = recording("AAPL_1d.json")
    quote, adj = rec["indicators"]["quote"][0], rec["indicators"]["adjclose"][0]["adjclose"]
    for i, stamp in enumerate(rec["timestamp"]):
        day = datetime.fromtimestamp(stamp, NEW_YORK).date()
        assert got[i].ts_us == us(day.year, day.month, day.day)
        assert (got[i].open, got[i].high, got[i].low, got[i].close, got[i].volume) == (
            quote["open"][i], quote["high"][i], quote["low"][i], quote["close"][i],
            float(quote["volume"][i]),
        )  # fmt: skip
        assert dict(got[i].metadata)["adj_close"] == repr(adj[i])


async def test_daily_range_not_on_midnight_and_weekend(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    got = await rows(stub, "AAPL", "1d", utc(2024, 2, 9, 12), utc(2024, 2, 14))
    assert [r.ts_us for r in got] == [us(2024, 2, 12), us(2024, 2, 13)]
    assert await rows(stub, "AAPL", "1d", utc(2024, 2, 3), utc(2024, 2, 5)) == []
    assert (
        await rows(stub, "AAPL", "1d", utc(2024, 2, 5), utc(2024, 2, 17), limit=2)
        == (await rows(stub, "AAPL", "1d", utc(2024, 2, 5), utc(2024, 2, 17)))[-2:]
    )


async def test_intraday_hourly_bars_start_at_half_past_and_nulls_are_skipped(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    got = await rows(stub, "AAPL", "1h", utc(2024, 2, 5), utc(2024, 2, 10))
    assert len(got) == 34  # 5 sessions x 7 bars, minus the all-null bar
    assert got[0] == Row(us(2024, 2, 5, 14, 30), 188.14999389648438, 188.4600067138672,
                         187.80999755859375, 188.0800018310547, 9952685.0)  # fmt: skip
    assert all(r.timestamp.minute == 30 for r in got)
    assert us(2024, 2, 7, 17, 30) not in {r.ts_us for r in got}  # the null bar
    assert all(r.metadata == () for r in got)  # no adjusted intraday close at Yahoo


async def test_thirty_minutes_are_resampled_from_fifteen(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    got = await rows(stub, "AAPL", "30m", utc(2024, 6, 7), utc(2024, 6, 8))
    assert [r.ts_us for r in got] == [us(2024, 6, 7, 13, 30) + k * 1_800_000_000 for k in range(13)]
    rec = recording("AAPL_15m.json")["indicators"]["quote"][0]
    assert got[0] == Row(
        us(2024, 6, 7, 13, 30), rec["open"][0], max(rec["high"][:2]), min(rec["low"][:2]),
        rec["close"][1], float(rec["volume"][0] + rec["volume"][1]),
    )  # fmt: skip


async def test_crypto_trades_every_day_and_hour(stub: pb_grpc.DataProviderAsyncStub) -> None:
    daily = await rows(stub, "BTC-USD", "1d", utc(2024, 2, 1), utc(2024, 2, 15))
    assert [r.ts_us for r in daily] == [us(2024, 2, 3) + d * 86_400_000_000 for d in range(10)]
    assert daily[0] == Row(us(2024, 2, 3), 43184.9609375, 43359.94140625, 42890.80859375,
                           42992.25, 11169245236.0, (("adj_close", "42992.25"),))  # fmt: skip
    hourly = await rows(stub, "BTC-USD", "1h", utc(2024, 2, 10), utc(2024, 2, 11))
    assert [r.ts_us for r in hourly] == [us(2024, 2, 10, h) for h in range(24)]
    assert hourly[-1].volume == 0.0


async def test_split_and_weekly_dividend_in_metadata(stub: pb_grpc.DataProviderAsyncStub) -> None:
    nvda = await rows(stub, "NVDA", "1d", utc(2024, 6, 5), utc(2024, 6, 13))
    splits = {r.ts_us: dict(r.metadata).get("split") for r in nvda if "split" in dict(r.metadata)}
    assert splits == {us(2024, 6, 10): "10"}
    weekly = await rows(stub, "AAPL", "1wk", utc(2024, 1, 1), utc(2024, 3, 1))
    assert [r.ts_us for r in weekly] == [us(2024, 1, 1) + w * 7 * 86_400_000_000 for w in range(8)]
    assert {r.ts_us for r in weekly if "dividend" in dict(r.metadata)} == {us(2024, 2, 5)}
    monthly = await rows(stub, "AAPL", "1mo", utc(2024, 1, 1), utc(2024, 6, 1))
    assert [r.timestamp.date().isoformat() for r in monthly] == [
        f"2024-0{m}-01" for m in range(1, 6)
    ]


async def test_http_429_is_resource_exhausted_with_retry_info(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await fetch_rows(stub, request("TOOMANY", "1d", utc(2024, 1, 1), utc(2024, 2, 1)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_after_from_metadata(info.value.trailing_metadata()) == 60.0


@pytest.mark.parametrize("symbol", ["TWTR", "NOSUCHTICKER"])
async def test_delisted_or_unknown_is_not_found(
    stub: pb_grpc.DataProviderAsyncStub, symbol: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await fetch_rows(stub, request(symbol, "1d", utc(2024, 1, 1), utc(2024, 2, 1)))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert symbol in (info.value.details() or "")


async def test_known_symbol_without_bars_is_empty_not_an_error(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    assert await rows(stub, "AAPL", "5m", utc(2024, 6, 3), utc(2024, 6, 8)) == []


async def test_requests_are_clipped_to_yahoo_lookback(
    provider: Any, stub: pb_grpc.DataProviderAsyncStub
) -> None:
    # The recordings were made 2024-06-14 20:00:01 UTC: 1m data reaches back 30 days.
    await rows(stub, "AAPL", "1m", utc(2024, 5, 10), utc(2024, 5, 17))
    charts = [c for c in provider.session.calls if "/v8/finance/chart/AAPL" in c and "period1" in c]
    assert len(charts) == 1
    assert "interval=1m" in charts[0]
    period1 = int(charts[0].split("period1=")[1].split("&")[0])
    # recorded_at - 30 days + a 1 hour margin (Yahoo refuses the whole request otherwise)
    assert datetime.fromtimestamp(period1, UTC) == utc(2024, 5, 15, 21, second=1)
    assert await rows(stub, "AAPL", "1m", utc(2024, 5, 1), utc(2024, 5, 8)) == []


def test_plan_and_error_mapping(yahoo: ModuleType, manifest: Manifest) -> None:
    provider = yahoo.YahooFinanceProvider(manifest, clock=lambda: utc(2024, 6, 14).timestamp())
    assert provider.plan("1h", utc(2020, 1, 1), utc(2024, 1, 1)) == [
        (utc(2022, 6, 15, 1), utc(2024, 1, 1))
    ]
    assert provider.plan("5m", utc(2020, 1, 1), utc(2024, 1, 1)) == []  # all beyond 60 days
    assert provider.plan("1d", utc(1990, 1, 1), utc(2024, 1, 1)) == [
        (utc(1990, 1, 1), utc(2024, 1, 1))
    ]
    assert provider.plan("1m", utc(2024, 5, 20), utc(2024, 6, 6)) == [
        (utc(2024, 5, 20), utc(2024, 5, 27)),
        (utc(2024, 5, 27), utc(2024, 6, 3)),
        (utc(2024, 6, 3), utc(2024, 6, 6)),
    ]
    from curl_cffi.requests import Response
    from curl_cffi.requests.exceptions import ConnectionError, HTTPError

    from timebase.sdk import SymbolNotFound, UpstreamUnavailable

    def http_error(status: int) -> HTTPError:
        response = Response()
        response.status_code = status
        return HTTPError(f"HTTP Error {status}", 0, response)

    assert isinstance(yahoo.map_error(http_error(404), "X"), SymbolNotFound)
    assert isinstance(yahoo.map_error(http_error(503), "X"), UpstreamUnavailable)
    assert isinstance(yahoo.map_error(ConnectionError("dns"), "X"), UpstreamUnavailable)


async def test_yfinance_never_runs_on_the_event_loop(provider: Any) -> None:
    """The blockbuster fixture fails blocking calls on the loop; drive the provider directly."""
    await provider.start()
    try:
        batches = [
            b async for b in provider.get_historical_data(
                "AAPL", "1d", utc(2024, 2, 1), utc(2024, 2, 3), None
            )
        ]  # fmt: skip
    finally:
        await provider.close()
    assert sum(b.num_rows for b in batches) == 2


async def test_subprocess_serves_recordings(process_target: str) -> None:
    async with grpc.aio.insecure_channel(process_target) as channel:
        got = await rows(
            pb_grpc.DataProviderStub(channel), "AAPL", "1d", utc(2024, 2, 8), utc(2024, 2, 10)
        )
    assert [r.ts_us for r in got] == [us(2024, 2, 8), us(2024, 2, 9)]
    assert dict(got[1].metadata)["dividend"] == "0.24"


def test_recordings_module_loads() -> None:
    recordings = load_module("yahoo_recordings")
    assert recordings.RecordedSession(RECORDINGS).recorded_at() == 1718395201
