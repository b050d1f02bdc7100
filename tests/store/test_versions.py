"""Per-series versions: every write path bumps the versions of the series it wrote, in the same
transaction (a failed write bumps nothing); other series keep theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.store.conftest import T0, bars_table, minutes
from timebase.core.config import RetentionConfig
from timebase.sdk.errors import InvalidDataError
from timebase.store import SeriesKey, Store
from timebase.store.pool import Connection
from timebase.store.versions import bump_series_versions

pytestmark = pytest.mark.asyncio

AAPL = SeriesKey("AAPL", "1m", "test")
MSFT = SeriesKey("MSFT", "1m", "test")
DAILY = SeriesKey("AAPL", "1d", "test")
HOUR = timedelta(hours=1)


async def versions(store: Store) -> dict[SeriesKey, int]:
    return await store.series_versions([AAPL, MSFT, DAILY])


async def test_a_series_never_written_has_no_version(store: Store) -> None:
    assert await versions(store) == {}


async def test_ingest_bumps_each_series_of_the_batch(store: Store) -> None:
    await store.ingest(bars_table(minutes(3), symbol="aapl"))
    first = await versions(store)
    assert set(first) == {AAPL}
    await store.ingest(bars_table(minutes(3), symbol="MSFT"))
    second = await versions(store)
    assert second[AAPL] == first[AAPL]
    assert second[MSFT] > first[AAPL]
    # An unchanged batch is still a write: readers must look again (versions only grow).
    await store.ingest(bars_table(minutes(3), symbol="aapl"))
    third = await versions(store)
    assert third[AAPL] > second[MSFT]
    assert third[MSFT] == second[MSFT]


async def test_a_refused_batch_bumps_nothing(store: Store) -> None:
    await store.ingest(bars_table(minutes(3)))
    before = await versions(store)
    bad = bars_table(minutes(3), high=[0.0, 0.0, 0.0])
    with pytest.raises(InvalidDataError):
        await store.ingest(bad)
    assert await versions(store) == before


async def test_a_rolled_back_transaction_bumps_nothing(store: Store) -> None:
    await store.ingest(bars_table(minutes(3)))
    before = await versions(store)

    def fail(conn: Connection) -> None:
        bump_series_versions(conn, [AAPL])
        raise RuntimeError("the write failed after the bump")

    with pytest.raises(RuntimeError):
        await store.pool.run(fail)
    assert await versions(store) == before


async def test_fetched_writes_invalidate_and_coverage_bump(store: Store) -> None:
    seen: list[int] = []

    async def bumped() -> None:
        current = (await versions(store))[AAPL]
        assert not seen or current > seen[-1]
        seen.append(current)

    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    await bumped()
    # A fetch that stored no bars still changed coverage: a bump.
    await store.write_fetched(
        bars_table([]), "AAPL", "1m", "test", start=T0 + HOUR, end=T0 + 2 * HOUR
    )
    await bumped()
    await store.invalidate("AAPL", "1m", "test", T0, T0 + HOUR)
    await bumped()
    await store.record_coverage("AAPL", "1m", "test", T0, T0 + HOUR)
    await bumped()
    assert MSFT not in await versions(store)


async def test_retention_bumps_the_class_it_trimmed(store: Store) -> None:
    old = datetime(2020, 1, 2, tzinfo=UTC)
    await store.ingest(bars_table(minutes(3, start=old)))
    await store.ingest(bars_table([old], interval="1d"))
    before = await versions(store)
    store.retention = RetentionConfig(intraday_days=30, daily_days=None)
    result = await store.apply_retention(now=old + timedelta(days=60))
    assert sum(result.deleted_bars.values()) == 3
    after = await versions(store)
    assert after[AAPL] > before[AAPL]
    assert after[DAILY] == before[DAILY]  # daily bars are kept forever: untouched
    # A run that removes nothing bumps nothing.
    await store.apply_retention(now=old + timedelta(days=60))
    assert await versions(store) == after
