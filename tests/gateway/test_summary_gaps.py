"""The summary's gaps and closed time between covered ranges (`series_gaps`): at most
`MAX_GAP_RANGES` of each, the first ones, and whether more follow."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.calendars import shared_calendars
from timebase.gateway.query.summary import MAX_GAP_RANGES, SeriesGaps, series_gaps
from timebase.store import TimeRange
from timebase.store.summary import SeriesSummary


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hourly(*covered: TimeRange) -> SeriesSummary:
    return SeriesSummary("1h", "equity", 0, None, None, covered)


async def test_years_between_intraday_ranges_list_the_first_sessions_only() -> None:
    xnys = await shared_calendars().get("XNYS")
    series = hourly(
        TimeRange(utc(2020, 1, 2, 14, 30), utc(2020, 1, 2, 21)),
        TimeRange(utc(2024, 1, 2, 14, 30), utc(2024, 1, 2, 21)),
    )
    got = series_gaps(series, xnys)
    assert MAX_GAP_RANGES == 20
    assert (len(got.gaps), got.gaps_truncated) == (20, True)
    assert (len(got.closed), got.closed_truncated) == (20, True)
    # January 2020's sessions (Martin Luther King Day, the 20th, closed), 14:30 to 21:00 UTC.
    assert got.gaps[0] == TimeRange(utc(2020, 1, 3, 14, 30), utc(2020, 1, 3, 21))
    assert got.gaps[11] == TimeRange(utc(2020, 1, 21, 14, 30), utc(2020, 1, 21, 21))
    assert got.gaps[19] == TimeRange(utc(2020, 1, 31, 14, 30), utc(2020, 1, 31, 21))
    assert got.closed[0] == TimeRange(utc(2020, 1, 2, 21), utc(2020, 1, 3, 14, 30))
    assert got.closed[1] == TimeRange(utc(2020, 1, 3, 21), utc(2020, 1, 6, 14, 30))
    assert got.closed[19] == TimeRange(utc(2020, 1, 30, 21), utc(2020, 1, 31, 14, 30))


async def test_a_short_hole_is_listed_whole() -> None:
    xnys = await shared_calendars().get("XNYS")
    series = hourly(
        TimeRange(utc(2024, 2, 16, 14, 30), utc(2024, 2, 16, 21)),
        TimeRange(utc(2024, 2, 21, 14, 30), utc(2024, 2, 21, 21)),
    )
    assert series_gaps(series, xnys) == SeriesGaps(
        "XNYS",
        (TimeRange(utc(2024, 2, 20, 14, 30), utc(2024, 2, 20, 21)),),
        (
            TimeRange(utc(2024, 2, 16, 21), utc(2024, 2, 20, 14, 30)),  # Presidents' Day
            TimeRange(utc(2024, 2, 20, 21), utc(2024, 2, 21, 14, 30)),
        ),
    )


def test_without_a_calendar_a_hole_of_years_is_one_gap() -> None:
    series = hourly(
        TimeRange(utc(2020, 1, 1), utc(2020, 1, 2)),
        TimeRange(utc(2024, 1, 1), utc(2024, 1, 2)),
        TimeRange(utc(2024, 6, 1), utc(2024, 6, 2)),
    )
    assert series_gaps(series, None) == SeriesGaps(
        None,
        (
            TimeRange(utc(2020, 1, 2), utc(2024, 1, 1)),
            TimeRange(utc(2024, 1, 2), utc(2024, 6, 1)),
        ),
        (),
    )
