"""Counting session-aligned derived bars without reading them (Flight `total_records` of a
derived plan that follows a calendar): exact against the aggregation, and the estimate for
large reads. Real calendars (XNYS, XHKG), real database (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.store.conftest import bars_table
from tests.support.calendars import shared_calendars
from timebase.gateway.coverage_plan import ReadPlan, Segment
from timebase.gateway.derived_intervals import derive
from timebase.gateway.query.session_counts import count_session_rows
from timebase.sdk.intervals import Interval
from timebase.store import BarQuery, Store

pytestmark = pytest.mark.asyncio

HOUR = timedelta(hours=1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def plan(target: Interval, start: datetime, end: datetime) -> tuple[ReadPlan, list[BarQuery]]:
    read = ReadPlan(
        "AAPL",
        target,
        start,
        end,
        (Segment(start - timedelta(days=1), end + timedelta(days=1), "test"),),
        derived_from=Interval.H1,
    )
    seg = read.segments[0]
    return read, [BarQuery.build("AAPL", Interval.H1, seg.start, seg.end, provider="test")]


@pytest.mark.parametrize(
    ("name", "target", "expected"),
    [
        # Fri 16 Feb and Tue 20 Feb 2024 (Presidents' Day between): 2 trading days, 2 × 2 4h.
        ("XNYS", Interval.D1, 2),
        ("XNYS", Interval.H4, 4),
        # Hong Kong, Thu 7 and Fri 8 Mar: 2 days; 4h from 09:30 and from 13:00 (after lunch).
        ("XHKG", Interval.D1, 2),
        ("XHKG", Interval.H4, 4),
    ],
)
async def test_sessions_buckets_are_counted_as_derived(
    store: Store, name: str, target: Interval, expected: int
) -> None:
    cal = await shared_calendars().get(name)
    start, end = (utc(2, 16), utc(2, 21)) if name == "XNYS" else (utc(3, 7), utc(3, 9))
    # Every hour on the UTC grid, around the clock: pre- and post-market hours, the night
    # and the lunch break hold bars the sessions leave out.
    stamps = [start - timedelta(days=1) + i * HOUR for i in range(24 * 7)]
    await store.upsert(bars_table(stamps, interval="1h"))
    read, queries = plan(target, start, end)
    table = await store.read_table("AAPL", Interval.H1, start - timedelta(days=1), end)
    assert derive(table, target, Interval.H1, start, end, cal=cal).num_rows == expected
    assert await count_session_rows(store, read, queries, cal) == expected


async def test_large_reads_are_estimated_by_the_calendars_slots(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("timebase.store.session_counting.EXACT_COUNT_BELOW", 1)
    xnys = await shared_calendars().get("XNYS")
    start, end = utc(2, 12), utc(2, 24)  # Mon 12 to Fri 23 Feb: 9 sessions (not Mon 19)
    stamps = [start + i * HOUR for i in range(24 * 12)]
    await store.upsert(bars_table(stamps, interval="1h"))
    read, queries = plan(Interval.D1, start, end)
    assert await count_session_rows(store, read, queries, xnys) == 9
    # Each session holds two 4h slots (09:30, 13:30 New York).
    read, queries = plan(Interval.H4, start, end)
    assert await count_session_rows(store, read, queries, xnys) == 18


async def test_nothing_stored_counts_nothing(store: Store) -> None:
    xnys = await shared_calendars().get("XNYS")
    read, queries = plan(Interval.D1, utc(2, 12), utc(2, 24))
    assert await count_session_rows(store, read, queries, xnys) == 0
