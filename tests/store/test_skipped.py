"""Skipped invalid bars remembered per series and range (`skipped_bars`, sql/0006)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from timebase.core.config import RetentionConfig
from timebase.store import Store, TimeRange
from timebase.store.skipped import SkippedRange, SkipReport

from .conftest import bars_table


def d(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def daily(*days: int, bad: tuple[int, ...] = ()) -> pa.Table:
    """Valid daily bars on `days`; those on `bad` days have high below low."""
    high = [0.5 if day in bad else 3.0 for day in days]
    return bars_table([d(day) for day in days], interval="1d", provider="p", high=high)


async def fetched(
    store: Store,
    table: pa.Table,
    a: int,
    b: int,
    *,
    covered_end: datetime | None = None,
    reported: SkipReport | None = None,
) -> None:
    await store.write_fetched(
        table,
        "AAPL",
        "1d",
        "p",
        start=d(a),
        end=d(b),
        covered_end=covered_end,
        reported=reported,
    )


async def remembered(store: Store, a: int = 1, b: int = 28) -> list[SkippedRange]:
    return await store.skipped_ranges("aapl", "1d", ["p", "q"], d(a), d(b))


async def test_a_fetch_with_skipped_bars_is_remembered_until_fetched_clean(store: Store) -> None:
    await fetched(store, daily(1, 2, 3, 4, bad=(2, 3)), 1, 5)
    hole = SkippedRange(d(1), d(5), "p", 2, "high: high below low: 2")
    assert await remembered(store) == [hole]
    assert await store.covered("AAPL", "1d", "p", d(1), d(28)) == [TimeRange(d(1), d(5))]
    assert await remembered(store, 4, 6) == [hole]  # any overlap
    assert await remembered(store, 5, 6) == []  # half-open
    assert await store.skipped_ranges("AAPL", "1d", ["q"], d(1), d(28)) == []

    # Reported by the provider (it skipped them itself) and skipped here: both counted.
    await fetched(
        store, daily(10, 11, bad=(11,)), 10, 12, reported=SkipReport(3, "provider: 3 bad")
    )
    assert (await remembered(store, 10, 12))[0].count == 4
    assert (await remembered(store, 10, 12))[
        0
    ].reasons == "high: high below low: 1; provider: 3 bad"

    # Part of the first range fetched again, all valid: that part is forgotten, the rest kept.
    await fetched(store, daily(2, 3), 2, 4)
    assert await remembered(store, 1, 5) == [
        SkippedRange(d(1), d(2), "p", 2, "high: high below low: 2"),
        SkippedRange(d(4), d(5), "p", 2, "high: high below low: 2"),
    ]
    # Fetched again with skips: replaced, not added up.
    await fetched(store, daily(10, 11, bad=(10,)), 10, 12)
    assert [(h.count, h.reasons) for h in await remembered(store, 10, 12)] == [
        (1, "high: high below low: 1")
    ]


async def test_skips_in_the_unsettled_part_are_remembered_without_coverage(store: Store) -> None:
    await fetched(store, daily(1, 2, bad=(2,)), 1, 3, covered_end=d(2))
    assert await store.covered("AAPL", "1d", "p", d(1), d(28)) == [TimeRange(d(1), d(2))]
    assert [(h.start, h.end) for h in await remembered(store)] == [(d(1), d(3))]
    await fetched(store, daily(5, bad=(5,)), 5, 6, covered_end=d(5))
    assert await store.covered("AAPL", "1d", "p", d(5), d(6)) == []
    assert [(h.start, h.end) for h in await remembered(store, 5, 6)] == [(d(5), d(6))]


async def test_invalidate_and_retention_forget_them(fresh_database_url: str) -> None:
    store = Store(fresh_database_url, run_retention=False, retention=RetentionConfig(daily_days=1))
    await store.start()
    try:
        await fetched(store, daily(1, 2, 3, 4, 5, 6, bad=(2, 5)), 1, 7)
        await store.invalidate("AAPL", "1d", "p", d(3), d(4))
        assert [(h.start, h.end) for h in await remembered(store)] == [(d(1), d(3)), (d(4), d(7))]
        await store.apply_retention(now=datetime(2024, 1, 6, tzinfo=UTC))  # cutoff: Jan 5
        assert [(h.start, h.end) for h in await remembered(store)] == [(d(5), d(7))]
    finally:
        await store.stop()
