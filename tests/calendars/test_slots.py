"""Open time, bar slots and session buckets of real calendars (XNYS from exchange_calendars,
the built-in 24/7)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tests.support.calendars import shared_calendars
from timebase.calendars.model import ALWAYS_OPEN, WEEKDAYS, Calendar, TableCalendar
from timebase.calendars.registry import Calendars, read_table
from timebase.calendars.slots import closed_parts, last_bars_start, open_parts, session_keys
from timebase.sdk.errors import CalendarNotFound, InvalidRequestError
from timebase.sdk.intervals import Interval
from timebase.store import TimeRange

H = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def as_utc(array: pa.Array) -> list[datetime | None]:
    """Timestamps as UTC datetimes, without pyarrow's pandas path for zoned timestamps (which
    reads time zone files: blocking, in an async test)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    values = array.cast(pa.int64()).to_pylist()
    return [None if v is None else epoch + timedelta(microseconds=v) for v in values]


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


def load(name: str) -> Calendar:
    """A calendar, for the synchronous tests (building Arrow arrays from Python objects
    imports pandas the first time, which reads files: blocking, in an async test)."""
    return asyncio.run(shared_calendars().get(name))


def test_session_keys_put_bars_in_their_trading_day_and_session_4h() -> None:
    xnys = load("XNYS")
    stamps = pa.array(
        [
            utc(2024, 2, 16, 14, 30),
            utc(2024, 2, 16, 20, 30),
            utc(2024, 2, 16, 22),
            utc(2024, 2, 20, 18, 30),
        ],
        pa.timestamp("us", tz="UTC"),
    )
    days = as_utc(session_keys(xnys, stamps, Interval.D1))
    assert days == [utc(2024, 2, 16), utc(2024, 2, 16), None, utc(2024, 2, 20)]
    fours = as_utc(session_keys(xnys, stamps, Interval.H4))
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


# -- lunch breaks: closed time (XHKG 12:00 to 13:00, XTKS 11:30 to 12:30 local) ------------------


@pytest.fixture
async def xhkg() -> Calendar:
    return await shared_calendars().get("XHKG")


async def test_a_lunch_break_is_closed_for_intraday_bars(xhkg: Calendar) -> None:
    # Fri 2024-03-08, Hong Kong (UTC+8): 09:30-12:00 and 13:00-16:00.
    day = utc(2024, 3, 8)
    (session,) = xhkg.sessions(day, day + timedelta(days=1))
    assert (session.break_start, session.break_end) == (utc(2024, 3, 8, 4), utc(2024, 3, 8, 5))
    assert open_parts(xhkg, day, day + timedelta(days=1), Interval.H1) == [
        TimeRange(utc(2024, 3, 8, 1, 30), utc(2024, 3, 8, 4)),
        TimeRange(utc(2024, 3, 8, 5), utc(2024, 3, 8, 8)),
    ]
    assert closed_parts(xhkg, utc(2024, 3, 8, 3), utc(2024, 3, 8, 6), Interval.M1) == [
        TimeRange(utc(2024, 3, 8, 4), utc(2024, 3, 8, 5))
    ]
    # A daily bar's day is the whole UTC day of the session, lunch or not.
    assert open_parts(xhkg, day, day + timedelta(days=1), Interval.D1) == [
        TimeRange(day, day + timedelta(days=1))
    ]


async def test_xtks_lunch_is_closed_too() -> None:
    xtks = await shared_calendars().get("XTKS")
    # Fri 2024-03-08, Tokyo (UTC+9): 09:00-11:30 and 12:30-15:00.
    assert open_parts(xtks, utc(2024, 3, 8), utc(2024, 3, 9), Interval.M5) == [
        TimeRange(utc(2024, 3, 8, 0), utc(2024, 3, 8, 2, 30)),
        TimeRange(utc(2024, 3, 8, 3, 30), utc(2024, 3, 8, 6)),
    ]


async def test_bar_slots_restart_after_the_lunch_break(xhkg: Calendar) -> None:
    end = utc(2024, 3, 8, 6, 30)  # Fri: 01:30, 02:30, 03:30, then 05:00 and 06:00 so far
    assert last_bars_start(xhkg, end, Interval.H1, 2) == utc(2024, 3, 8, 5)
    assert last_bars_start(xhkg, end, Interval.H1, 3) == utc(2024, 3, 8, 3, 30)
    # Thursday's afternoon slots: 05:00, 06:00, 07:00.
    assert last_bars_start(xhkg, end, Interval.H1, 6) == utc(2024, 3, 7, 7)
    # 4h: one slot per half (09:30 and 13:00 Hong Kong).
    assert last_bars_start(xhkg, end, Interval.H4, 3) == utc(2024, 3, 7, 5)


def test_session_keys_leave_the_lunch_break_out() -> None:
    xhkg = load("XHKG")
    stamps = pa.array(
        [
            utc(2024, 3, 8, 1, 30),
            utc(2024, 3, 8, 3, 30),
            utc(2024, 3, 8, 4, 30),  # lunch
            utc(2024, 3, 8, 5),
            utc(2024, 3, 8, 7),
        ],
        pa.timestamp("us", tz="UTC"),
    )
    assert as_utc(session_keys(xhkg, stamps, Interval.H4)) == [
        utc(2024, 3, 8, 1, 30),
        utc(2024, 3, 8, 1, 30),
        None,
        utc(2024, 3, 8, 5),
        utc(2024, 3, 8, 5),
    ]
    assert as_utc(session_keys(xhkg, stamps, Interval.D1)) == [
        utc(2024, 3, 8),
        utc(2024, 3, 8),
        None,
        utc(2024, 3, 8),
        utc(2024, 3, 8),
    ]


def test_a_table_of_the_first_layout_is_rebuilt_with_the_breaks(tmp_path: Path) -> None:
    shared = shared_calendars()
    load("XHKG")
    table = pa.ipc.open_file(pa.memory_map(str(shared.path("XHKG")))).read_all()
    first_layout = table.drop_columns(["break_start", "break_end"]).replace_schema_metadata(
        {"calendar": "XHKG"}
    )
    with (
        pa.OSFile(str(tmp_path / "XHKG.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, first_layout.schema) as writer,
    ):
        writer.write_table(first_layout)
    (tmp_path / "names.json").write_bytes((shared.cache_dir / "names.json").read_bytes())
    old = read_table("XHKG", tmp_path / "XHKG.arrow")
    assert old.layout == "1"
    assert old.sessions(utc(2024, 3, 8), utc(2024, 3, 9))[0].break_start is None
    cal = asyncio.run(Calendars(tmp_path).get("XHKG"))
    (session,) = cal.sessions(utc(2024, 3, 8), utc(2024, 3, 9))
    assert session.break_start == utc(2024, 3, 8, 4)
    assert isinstance(cal, TableCalendar)
    assert cal.layout == "2"
