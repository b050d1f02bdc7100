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
