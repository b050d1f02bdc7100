from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from timebase.sdk.errors import InvalidTimeRangeError
from timebase.store import Store, TimeRange, coverage, gaps

from .conftest import bars_table


def d(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def r(a: int, b: int) -> TimeRange:
    return TimeRange(d(a), d(b))


def test_gaps():
    assert gaps([], d(1), d(10)) == [r(1, 10)]
    assert gaps([r(1, 10)], d(1), d(10)) == []
    assert gaps([r(2, 3), r(5, 7)], d(1), d(10)) == [r(1, 2), r(3, 5), r(7, 10)]
    assert gaps([r(1, 3), r(8, 10)], d(1), d(10)) == [r(3, 8)]


async def _record(store: Store, a: int, b: int) -> TimeRange:
    return await store.record_coverage("aapl", "1d", "p", d(a), d(b))


async def test_overlapping_and_adjacent_ranges_merge(store: Store):
    assert await _record(store, 1, 3) == r(1, 3)
    assert await _record(store, 5, 7) == r(5, 7)
    assert await _record(store, 10, 12) == r(10, 12)
    assert await store.covered("AAPL", "1d", "p", d(1), d(20)) == [r(1, 3), r(5, 7), r(10, 12)]
    assert await _record(store, 3, 4) == r(1, 4)  # adjacent
    assert await _record(store, 6, 11) == r(5, 12)  # overlaps two
    assert await _record(store, 5, 6) == r(5, 12)  # inside
    assert await store.covered("AAPL", "1d", "p", d(1), d(20)) == [r(1, 4), r(5, 12)]
    assert await store.missing("AAPL", "1d", "p", d(2), d(15)) == [r(4, 5), r(12, 15)]
    # Other series are separate.
    assert await store.covered("AAPL", "1d", "other", d(1), d(20)) == []
    assert await store.missing("AAPL", "1m", "p", d(2), d(3)) == [r(2, 3)]


async def test_covered_is_clipped_to_the_request(store: Store):
    await _record(store, 1, 10)
    assert await store.covered("AAPL", "1d", "p", d(3), d(4)) == [r(3, 4)]
    assert await store.missing("AAPL", "1d", "p", d(3), d(4)) == []


async def test_concurrent_records_merge_into_one(store: Store):
    await asyncio.gather(*(_record(store, i, i + 1) for i in range(1, 20)))
    assert await store.covered("AAPL", "1d", "p", d(1), d(28)) == [r(1, 20)]


async def test_empty_range_is_refused(store: Store):
    with pytest.raises(InvalidTimeRangeError):
        await _record(store, 3, 3)


async def test_write_fetched_is_one_transaction(store: Store, monkeypatch):
    stamps = [d(2), d(3)]
    result = await store.write_fetched(
        bars_table(stamps, interval="1d"), "aapl", "1d", "test", start=d(1), end=d(5)
    )
    assert (result.written, result.coverage) == (2, r(1, 5))
    assert await store.missing("AAPL", "1d", "test", d(1), d(6)) == [r(5, 6)]

    # When recording the coverage fails, the bars are not written either.
    def fail(*args, **kwargs):
        raise RuntimeError("coverage write failed")

    monkeypatch.setattr(coverage, "record_range", fail)
    with pytest.raises(RuntimeError, match="coverage write failed"):
        await store.write_fetched(
            bars_table([d(8)], interval="1d"), "AAPL", "1d", "test", start=d(7), end=d(9)
        )
    assert (await store.read_table("AAPL", "1d", d(7), d(9))).num_rows == 0


async def test_invalidate_deletes_bars_and_splits_coverage(store: Store):
    await store.write_fetched(
        bars_table([d(i) for i in range(1, 10)], interval="1d"),
        "AAPL",
        "1d",
        "test",
        start=d(1),
        end=d(10),
    )
    assert await store.invalidate("aapl", "1d", "test", d(4), d(6)) == 2
    assert await store.covered("AAPL", "1d", "test", d(1), d(10)) == [r(1, 4), r(6, 10)]
    got = await store.read_table("AAPL", "1d", d(1), d(10))
    assert got.num_rows == 7
    assert d(4) not in got["timestamp"].to_pylist()
    assert d(5) not in got["timestamp"].to_pylist()
    assert d(3) in got["timestamp"].to_pylist()
    assert d(6) in got["timestamp"].to_pylist()


async def test_coverage_of_several_providers_in_one_call(fresh_database_url: str) -> None:
    async with Store(fresh_database_url, run_retention=False) as store:
        day = timedelta(days=1)
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        await store.record_coverage("SYN:A", "1d", "alpha", t0, t0 + 3 * day)
        await store.record_coverage("SYN:A", "1d", "beta", t0 + 5 * day, t0 + 9 * day)
        got = await store.covered_by_provider(
            "syn:a", "1d", ["alpha", "beta", "gamma"], t0 + day, t0 + 7 * day
        )
    assert got == {
        "alpha": [TimeRange(t0 + day, t0 + 3 * day)],
        "beta": [TimeRange(t0 + 5 * day, t0 + 7 * day)],
        "gamma": [],
    }
