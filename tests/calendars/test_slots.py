"""Open time, bar slots and session buckets of real calendars (XNYS from exchange_calendars,
the built-in 24/7)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from tests.support.calendars import shared_calendars
from timebase.calendars.model import ALWAYS_OPEN, WEEKDAYS, Calendar, TableCalendar
from timebase.calendars.slots import closed_parts, last_bars_start, open_parts, session_keys
from timebase.sdk.errors import CalendarNotFound, InvalidRequestError
from timebase.sdk.intervals import Interval
from timebase.store import TimeRange

H = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def xnys() -> Calendar:
    return await shared_calendars().get("XNYS")


async def test_a_weekend_and_a_holiday_are_closed_a_session_is_open(xnys: Calendar) -> None:
    # Fri 2024-02-16, then the weekend and Presidents' Day (Mon 2024-02-19), then Tue.
    start, end = utc(2024, 2, 16), utc(2024, 2, 21)
    assert open_parts(xnys, start, end, Interval.H1) == [
        TimeRange(utc(2024, 2, 16, 14, 30), utc(2024, 2, 16, 21)),
        TimeRange(utc(2024, 2, 20, 14, 30), utc(2024, 2, 20, 21)),
    ]
    assert open_parts(xnys, utc(2024, 2, 17), utc(2024, 2, 20), Interval.H1) == []
    assert open_parts(xnys, utc(2024, 2, 17), utc(2024, 2, 20), Interval.D1) == []
    # Daily bars are keyed at 00:00 UTC of the trading date: the session's whole UTC day.
    assert open_parts(xnys, start, end, Interval.D1) == [
        TimeRange(utc(2024, 2, 16), utc(2024, 2, 17)),
        TimeRange(utc(2024, 2, 20), utc(2024, 2, 21)),
    ]
    assert closed_parts(xnys, utc(2024, 2, 16, 12), utc(2024, 2, 16, 23), Interval.H1) == [
        TimeRange(utc(2024, 2, 16, 12), utc(2024, 2, 16, 14, 30)),
        TimeRange(utc(2024, 2, 16, 21), utc(2024, 2, 16, 23)),
    ]


async def test_summer_time_moves_the_open_in_utc(xnys: Calendar) -> None:
    assert open_parts(xnys, utc(2024, 6, 14), utc(2024, 6, 15), Interval.M1) == [
        TimeRange(utc(2024, 6, 14, 13, 30), utc(2024, 6, 14, 20))
    ]


async def test_last_bars_start_counts_session_slots_at_half_past(xnys: Calendar) -> None:
    end = utc(2024, 2, 20, 16)  # Tue: bars at 14:30 and 15:30 so far
    assert last_bars_start(xnys, end, Interval.H1, 2) == utc(2024, 2, 20, 14, 30)
    # 7 bars on Fri 16 (14:30 .. 20:30), none on the weekend and the holiday.
    assert last_bars_start(xnys, end, Interval.H1, 9) == utc(2024, 2, 16, 14, 30)
    assert last_bars_start(xnys, end, Interval.H1, 10) == utc(2024, 2, 15, 20, 30)
    assert last_bars_start(xnys, end, Interval.D1, 3) == utc(2024, 2, 15)
    assert last_bars_start(xnys, end, Interval.W1, 3) is None
    # Session-aligned 4h: 14:30 and 18:30 (cut short by the 21:00 close) are the day's slots.
    assert last_bars_start(xnys, utc(2024, 2, 17), Interval.H4, 1) == utc(2024, 2, 16, 18, 30)
    assert last_bars_start(xnys, utc(2024, 2, 17), Interval.H4, 3) == utc(2024, 2, 15, 18, 30)


def test_crypto_24_7_is_continuous() -> None:
    start, end = utc(2024, 2, 16, 5), utc(2024, 2, 19, 7)
    assert open_parts(ALWAYS_OPEN, start, end, Interval.H1) == [TimeRange(start, end)]
    assert closed_parts(ALWAYS_OPEN, start, end, Interval.H1) == []
    assert last_bars_start(ALWAYS_OPEN, end, Interval.H1, 50) == end - 50 * H
    assert open_parts(None, start, end, Interval.H1) == [TimeRange(start, end)]


def test_24_5_closes_on_the_weekend() -> None:
    assert open_parts(WEEKDAYS, utc(2024, 2, 16), utc(2024, 2, 20), Interval.H1) == [
        TimeRange(utc(2024, 2, 16), utc(2024, 2, 17)),
        TimeRange(utc(2024, 2, 19), utc(2024, 2, 20)),
    ]


async def test_session_keys_put_bars_in_their_trading_day_and_session_4h(
    xnys: Calendar,
) -> None:
    stamps = pa.array(
        [
            utc(2024, 2, 16, 14, 30),
            utc(2024, 2, 16, 20, 30),
            utc(2024, 2, 16, 22),
            utc(2024, 2, 20, 18, 30),
        ],
        pa.timestamp("us", tz="UTC"),
    )
    days = session_keys(xnys, stamps, Interval.D1).to_pylist()
    assert days == [utc(2024, 2, 16), utc(2024, 2, 16), None, utc(2024, 2, 20)]
    fours = session_keys(xnys, stamps, Interval.H4).to_pylist()
    assert fours == [
        utc(2024, 2, 16, 14, 30),
        utc(2024, 2, 16, 18, 30),
        None,
        utc(2024, 2, 20, 18, 30),
    ]


async def test_unknown_and_malformed_names_are_refused() -> None:
    with pytest.raises(CalendarNotFound, match="unknown calendar 'XNOPE'"):
        await shared_calendars().get("XNOPE")
    with pytest.raises(InvalidRequestError, match="is not a calendar name"):
        await shared_calendars().get("../etc")


def test_the_table_is_cached_and_read_without_pandas() -> None:
    cache = shared_calendars().path("XNYS")
    asyncio.run(shared_calendars().get("XNYS"))
    assert cache.is_file()
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from timebase.calendars.registry import Calendars\n"
        f"cal = asyncio.run(Calendars(Path({str(cache.parent)!r})).get('XNYS'))\n"
        "print(cal.last_day > cal.first_day, 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


async def test_the_table_starts_in_1990(xnys: Calendar) -> None:
    assert isinstance(xnys, TableCalendar)
    assert xnys.first_day == date(1990, 1, 2)
