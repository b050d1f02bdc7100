"""Counting what a read returns without reading it: stored bars, and the bars derived from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.store.conftest import bars_table
from timebase.gateway.derived_intervals import derive
from timebase.sdk.intervals import Interval
from timebase.store import BarQuery, Store

pytestmark = pytest.mark.asyncio

DAY = timedelta(days=1)


async def test_count_bars_is_exact_for_small_reads(store: Store) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await store.upsert(bars_table([start + i * DAY for i in range(40)], interval="1d"))
    query = BarQuery.build("AAPL", "1d", start + 5 * DAY, start + 15 * DAY)
    other = BarQuery.build("AAPL", "1d", start + 30 * DAY, start + 90 * DAY)
    assert await store.count_bars([query, other]) == 10 + 10
    assert await store.count_bars([]) == 0


@pytest.mark.parametrize(
    ("base", "target", "step", "count"),
    [
        (Interval.D1, Interval.W1, DAY, 75),
        (Interval.D1, Interval.MO1, DAY, 75),
        (Interval.H1, Interval.H4, timedelta(hours=1), 50),
        (Interval.M1, Interval.M15, timedelta(minutes=1), 100),
    ],
)
async def test_count_buckets_matches_the_aggregation(
    store: Store, base: Interval, target: Interval, step: timedelta, count: int
) -> None:
    first = datetime(2024, 1, 3, 7, tzinfo=UTC)  # a Wednesday, off every bucket grid
    stamps = [first + i * step for i in range(count) if (first + i * step).weekday() < 5]
    await store.upsert(bars_table(stamps, interval=base.value))
    start, end = first + 2 * step, first + (count - 3) * step
    queries = [BarQuery.build("AAPL", base, first - 40 * DAY, first + 400 * DAY)]
    table = await store.read_table("AAPL", base, first - 40 * DAY, first + 400 * DAY)
    expected = derive(table, target, base, start, end).num_rows
    assert expected > 1
    assert await store.count_buckets(queries, target, start, end) == expected
