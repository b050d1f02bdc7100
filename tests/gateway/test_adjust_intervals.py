"""Adjusting intraday, weekly, monthly and derived bars from the events of the daily bars
(`timebase.gateway.adjust_intervals`): exact factors, the ex-date boundary, the anchor at the
answer's last bar, declared adjustments; then through REST, gRPC and Flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.gateway.support import RecordingProvider
from tests.rest.conftest import Rest, running_rest
from timebase.flight import FlightServer
from timebase.gateway.adjust_intervals import adjust_from_daily, merge_daily
from timebase.gateway.adjustments import Adjust, adjust_bars
from timebase.gateway.query import QueryApi
from timebase.sdk.intervals import Interval
from timebase.v1 import bars_pb2

UTC_TS = pa.timestamp("us", tz="UTC")


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, d, hour, tzinfo=UTC)


#: Daily bars Jan 1-6: a 2-for-1 split on Jan 3, a dividend of 5.2 on Jan 5 (previous close 52).
DAILY_CLOSES = [100.0, 102.0, 51.0, 52.0, 54.0, 55.0]
DAILY_EVENTS = {2: '{"split":"2"}', 4: '{"dividend":"5.2"}'}
DIVIDEND = 1 - 5.2 / 52.0


def bars(stamps: Sequence[datetime], closes: Sequence[float], provider: str = "raw") -> pa.Table:
    n = len(stamps)
    return pa.table(
        {
            "timestamp": pa.array(stamps, UTC_TS),
            "open": list(closes),
            "high": list(closes),
            "low": list(closes),
            "close": list(closes),
            "volume": [1000.0] * n,
            "provider": [provider] * n,
            "metadata": pa.array([None] * n, pa.string()),
        }
    )


def daily(provider: str = "raw") -> pa.Table:
    table = bars([day(d) for d in range(1, 7)], DAILY_CLOSES, provider)
    metadata = [DAILY_EVENTS.get(i) for i in range(6)]
    return table.set_column(7, "metadata", pa.array(metadata, pa.string()))


def closes(table: pa.Table) -> list[float]:
    return [round(c, 9) for c in table.column("close").to_pylist()]


def test_intraday_bars_before_the_ex_date_are_adjusted_and_those_on_it_are_not() -> None:
    hourly = bars(
        [day(2, 12), day(2, 23), day(3, 0), day(3, 12), day(5, 0), day(5, 12)],
        [101.0, 100.0, 50.0, 50.5, 53.0, 53.5],
    )
    adjusted = adjust_from_daily(hourly, Adjust.ALL, {}, daily(), Interval.H1)
    assert closes(adjusted) == [
        round(101.0 / 2 * DIVIDEND, 9),
        round(100.0 / 2 * DIVIDEND, 9),  # ends at 00:00 of the split's day
        round(50.0 * DIVIDEND, 9),
        round(50.5 * DIVIDEND, 9),
        53.0,
        53.5,
    ]
    assert adjusted.column("volume").to_pylist() == [2000.0, 2000.0, 1000.0, 1000.0, 1000.0, 1000.0]
    splits = adjust_from_daily(hourly, Adjust.SPLITS, {}, daily(), Interval.H1)
    assert closes(splits) == [50.5, 50.0, 50.0, 50.5, 53.0, 53.5]
    assert adjust_from_daily(hourly, Adjust.NONE, {}, daily(), Interval.H1) is hourly
    assert adjusted.schema == hourly.schema


def test_what_the_provider_already_includes_is_not_applied_again() -> None:
    hourly = bars([day(2, 12), day(3, 12), day(5, 12)], [101.0, 50.5, 53.5], provider="yahooish")
    declared = {"yahooish": frozenset({"splits"})}
    adjusted = adjust_from_daily(hourly, Adjust.ALL, declared, daily("yahooish"), Interval.H1)
    assert closes(adjusted) == [round(101.0 * DIVIDEND, 9), round(50.5 * DIVIDEND, 9), 53.5]
    assert adjusted.column("volume").to_pylist() == [1000.0, 1000.0, 1000.0]


def test_weekly_and_monthly_bars_are_placed_by_their_end() -> None:
    weekly = bars([day(1) - timedelta(days=7), day(1), day(8)], [90.0, 55.0, 56.0])
    adjusted = adjust_from_daily(weekly, Adjust.ALL, {}, daily(), Interval.W1)
    # The week of Dec 25 ends before both events; the week holding them closes after them.
    assert closes(adjusted) == [round(90.0 / 2 * DIVIDEND, 9), 55.0, 56.0]
    monthly = bars([datetime(2023, 12, 1, tzinfo=UTC), day(1)], [95.0, 55.0])
    adjusted = adjust_from_daily(monthly, Adjust.ALL, {}, daily(), Interval.MO1)
    assert closes(adjusted) == [round(95.0 / 2 * DIVIDEND, 9), 55.0]


def test_events_after_the_answer_are_left_out() -> None:
    hourly = bars([day(1, 12), day(2, 12)], [99.0, 101.0])
    assert closes(adjust_from_daily(hourly, Adjust.ALL, {}, daily(), Interval.H1)) == [
        99.0,
        101.0,
    ]  # the split (Jan 3) comes after the last bar


def test_without_daily_bars_the_bars_own_events_are_used() -> None:
    hourly = bars([day(2, 12), day(3, 12)], [101.0, 50.5])
    hourly = hourly.set_column(7, "metadata", pa.array([None, '{"split":"2"}'], pa.string()))
    empty = merge_daily([])
    assert closes(adjust_from_daily(hourly, Adjust.SPLITS, {}, empty, Interval.H1)) == closes(
        adjust_bars(hourly, Adjust.SPLITS, {})
    )


def test_merged_daily_bars_keep_one_bar_per_day() -> None:
    merged = merge_daily([daily("a"), daily("b").slice(3), daily("b").slice(0, 0)])
    assert merged.num_rows == 6
    assert merged.column("provider").to_pylist() == ["a"] * 6


# -- through the doors ----------------------------------------------------------------------


class SplitProvider(RecordingProvider):
    """ACME: daily bars Jan 1-14, 2024 at `100 + day` with a 2-for-1 split on Monday Jan 8, and
    one hourly bar at 12:00 each day with the same close."""

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        self.requests.append((symbol, interval, start, end))
        hour = 12 if interval == "1h" else 0
        stamps = [day(d, hour) for d in range(1, 15) if start <= day(d, hour) < end]
        if not stamps:
            return
        values = [_price(ts.day) for ts in stamps]
        metadata = ['{"split":"2"}' if interval == "1d" and ts.day == 8 else None for ts in stamps]
        yield pa.RecordBatch.from_pydict(
            {
                "timestamp": pa.array(stamps, UTC_TS),
                "open": values,
                "high": values,
                "low": values,
                "close": values,
                "volume": [1000.0] * len(stamps),
                "metadata": pa.array(metadata, pa.string()),
            }
        )


def _price(d: int) -> float:
    return 100.0 + d if d < 8 else (100.0 + d) / 2


START, END = "2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z"
HOURLY_SPLITS = [(100.0 + d) / 2 for d in range(1, 15)]
HOURLY_VOLUMES = [2000.0] * 7 + [1000.0] * 7


@pytest.fixture
async def doors(database_url: str) -> AsyncIterator[tuple[Rest, FlightServer]]:
    async with running_rest(database_url, SplitProvider("raw", ["1h", "1d"])) as rest:
        server = FlightServer("127.0.0.1", 0)
        server.attach(QueryApi(rest.gw.history))
        await server.start()
        try:
            yield rest, server
        finally:
            await server.stop()


def _flight(port: int, interval: str) -> pa.Table:
    client = flight.connect(f"grpc://127.0.0.1:{port}")
    try:
        command = {"symbol": "ACME", "interval": interval, "start": START, "end": END}
        command["adjust"] = "splits"
        info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command)))
        return pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints])
    finally:
        client.close()


async def _rest(rest: Rest, interval: str, adjust: str) -> list[dict[str, Any]]:
    status, body, _ = await rest.get(
        f"/api/data/ACME?interval={interval}&start={START}&end={END}&adjust={adjust}"
    )
    assert status == 200, body
    data: list[dict[str, Any]] = body["data"]["data"]
    return data


async def test_hourly_and_derived_bars_are_adjusted_on_every_door(
    doors: tuple[Rest, FlightServer],
) -> None:
    rest, flight_server = doors
    # Hourly: every bar before Jan 8 halved (its volume doubled), from the daily split.
    hourly = await _rest(rest, "1h", "splits")
    assert [b["close"] for b in hourly] == HOURLY_SPLITS
    assert [b["volume"] for b in hourly] == HOURLY_VOLUMES
    assert [b["close"] for b in await _rest(rest, "1h", "none")] == [
        _price(d) for d in range(1, 15)
    ]
    request = bars_pb2.GetBarsRequest(symbol="ACME", interval="1h", adjust="splits")
    request.start_time.FromDatetime(day(1))
    request.end_time.FromDatetime(day(15))
    chunks = [c async for c in rest.gw.v1.GetBars(request, timeout=30)]
    assert [c for ch in chunks for c in ch.close] == HOURLY_SPLITS
    table = await asyncio.to_thread(_flight, flight_server.port or 0, "1h")
    assert table.column("close").to_pylist() == HOURLY_SPLITS
    assert table.column("volume").to_pylist() == HOURLY_VOLUMES

    # 4h is derived from the hourly bars, 1wk from the daily ones: the same rule by bar end.
    four = await _rest(rest, "4h", "splits")
    assert [b["close"] for b in four] == HOURLY_SPLITS
    weekly = await _rest(rest, "1wk", "splits")
    assert [(b["timestamp"], b["close"], b["volume"]) for b in weekly] == [
        ("2024-01-01T00:00:00Z", (100.0 + 7) / 2, 14000.0),  # Jan 1-7, before the split
        ("2024-01-08T00:00:00Z", (100.0 + 14) / 2, 7000.0),
    ]
    table = await asyncio.to_thread(_flight, flight_server.port or 0, "1wk")
    assert table.column("close").to_pylist() == [53.5, 57.0]
