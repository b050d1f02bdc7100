"""The calendar on the Flight door: FlightInfo schema metadata, session-aligned derived tickets,
and a DoPut naming its data set's calendar (both database backends)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.flight.conftest import running_flight, sent_error
from tests.flight.test_flight import _bars, put, read
from tests.gateway.support import RecordingProvider
from tests.gateway.test_calendars import CRYPTO_RULES, SessionProvider
from tests.support.calendars import shared_calendars
from timebase.flight.tickets import decode_ticket
from timebase.gateway.bar_request import build_request
from timebase.store import BAR_SCHEMA


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def test_flight_info_names_each_symbols_calendar(fresh_database_url: str) -> None:
    crypto = RecordingProvider("crypto", ["1h", "1d"], calendars=CRYPTO_RULES, symbols=["BTC"])
    plain = RecordingProvider("plain", ["1h", "1d"], symbols=["PLAIN"])
    async with running_flight(
        fresh_database_url, crypto, plain, calendars=shared_calendars()
    ) as fg:
        info, table = await asyncio.to_thread(
            read, fg, symbols=["BTC", "PLAIN"], interval="1d", start="2024-01-01", end="2024-01-03"
        )
        assert json.loads(info.schema.metadata[b"timebase.calendars"]) == {"BTC": "24/7"}
        assert table.schema == BAR_SCHEMA
        assert table.num_rows == 4  # 2 days each (a date-only end is its midnight)
        info, _ = await asyncio.to_thread(
            read, fg, symbol="PLAIN", interval="1d", start="2024-01-01", end="2024-01-03"
        )
        assert info.schema == BAR_SCHEMA  # no calendar: no metadata


async def test_derived_4h_tickets_follow_the_sessions(fresh_database_url: str) -> None:
    cal = await shared_calendars().get("XNYS")
    equity = SessionProvider("equity", cal)
    async with running_flight(fresh_database_url, equity, calendars=shared_calendars()) as fg:
        info, table = await asyncio.to_thread(
            read, fg, symbol="AAPL", interval="4h", start="2024-02-16", end="2024-02-21"
        )
        (endpoint,) = info.endpoints
        plan = decode_ticket(endpoint.ticket.ticket)
        assert (plan.calendar, plan.derived_from and plan.derived_from.value) == ("XNYS", "1h")
        # Sessions' buckets, not UTC ones (which would be 12:00, 16:00 and 20:00: 6).
        assert info.total_records == 4
        # Friday and Tuesday: 09:30 and 13:30 New York each (Monday is Presidents' Day).
        assert table.column("timestamp").to_pylist() == [
            utc(2024, 2, 16, 14, 30),
            utc(2024, 2, 16, 18, 30),
            utc(2024, 2, 20, 14, 30),
            utc(2024, 2, 20, 18, 30),
        ]
        answer = await fg.gateway.history.get(
            build_request(
                symbol="AAPL", interval="4h", start=utc(2024, 2, 16), end=utc(2024, 2, 21)
            )
        )
        assert answer.table.equals(table)


async def test_do_put_names_the_data_sets_calendar(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url, calendars=shared_calendars()) as fg:
        batch = _bars("mine", 5)
        with pytest.raises(pa.ArrowKeyError) as refused:  # gRPC NOT_FOUND
            await asyncio.to_thread(
                put, fg, batch, {"provider": "my-data", "interval": "1d", "calendar": "XNOPE"}
            )
        assert sent_error(refused.value)["code"] == "CALENDAR_NOT_FOUND"
        assert await fg.gateway.store.latest(["MINE"]) == {}
        with pytest.raises(pa.ArrowInvalid) as malformed:
            await asyncio.to_thread(put, fg, batch, {"provider": "my-data", "calendar": "a b"})
        assert sent_error(malformed.value)["message"] == (
            "calendar: 'a b' is not a calendar name (e.g. XNYS, XLON, 24/7, 24/5)"
        )
        options = {"provider": "my-data", "interval": "1d", "calendar": "24/5"}
        assert await asyncio.to_thread(put, fg, batch, options) == {
            "rows_received": 5,
            "rows_written": 5,
        }
        info, table = await asyncio.to_thread(
            read, fg, symbol="MINE", interval="1d", start="2024-01-01", end="2024-01-06",
            provider="my-data",
        )  # fmt: skip
        assert json.loads(info.schema.metadata[b"timebase.calendars"]) == {"MINE": "24/5"}
        assert table.num_rows == 5


async def test_total_records_of_a_lunch_break_calendar_count_both_halves(
    fresh_database_url: str,
) -> None:
    cal = await shared_calendars().get("XHKG")
    hk = SessionProvider(
        "hk",
        cal,
        intervals=("1h",),
        rules=[{"symbols": "[0-9]{4}[.]HK", "calendar": "XHKG"}],
        symbols=("0700[.]HK",),
    )
    async with running_flight(fresh_database_url, hk, calendars=shared_calendars()) as fg:
        info, table = await asyncio.to_thread(
            read, fg, symbol="0700.HK", interval="4h", start="2024-03-07", end="2024-03-09"
        )
        # Thu and Fri: 09:30 (the morning, to 12:00) and 13:00 (the afternoon) Hong Kong each.
        assert table.column("timestamp").cast("int64").to_pylist() == [
            int(utc(2024, 3, day, hour, minute).timestamp() * 1_000_000)
            for day in (7, 8)
            for hour, minute in ((1, 30), (5, 0))
        ]
        assert info.total_records == 4


async def test_total_records_of_sessions_across_utc_midnight(fresh_database_url: str) -> None:
    # XASX in Australian summer time: 10:00 to 16:00 Sydney is 23:00 (the day before) to
    # 05:00 UTC, so each session's 1h bars span two UTC days but make one daily bar.
    cal = await shared_calendars().get("XASX")
    asx = SessionProvider(
        "asx",
        cal,
        intervals=("1h",),
        rules=[{"symbols": "[A-Z]{3}[.]AX", "calendar": "XASX"}],
        symbols=("BHP[.]AX",),
    )
    async with running_flight(fresh_database_url, asx, calendars=shared_calendars()) as fg:
        info, table = await asyncio.to_thread(
            read, fg, symbol="BHP.AX", interval="1d", start="2024-03-08", end="2024-03-12"
        )
        plan = decode_ticket(info.endpoints[0].ticket.ticket)
        assert (plan.calendar, plan.derived_from and plan.derived_from.value) == ("XASX", "1h")
        # Fri 8 and Mon 11 (opening Sunday 23:00 UTC): 2; UTC days would be 3 (8, 10, 11).
        assert table.column("timestamp").cast("int64").to_pylist() == [
            int(utc(2024, 3, day).timestamp() * 1_000_000) for day in (8, 11)
        ]
        assert info.total_records == 2
