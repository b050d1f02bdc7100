from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from timebase.core.config import RetentionConfig
from timebase.sdk.intervals import IntervalClass
from timebase.store import RetentionJob, Store, TimeRange

from .conftest import bars_table

NOW = datetime(2025, 6, 1, tzinfo=UTC)


async def test_retention_deletes_old_intraday_trims_coverage_keeps_daily(store: Store):
    old = NOW - timedelta(days=400)
    start, end = old, NOW - timedelta(days=300)
    cutoff = NOW - timedelta(days=365)
    hours = [old + timedelta(hours=i) for i in range(0, 100 * 24, 24)]  # one bar a day, 100 days
    await store.write_fetched(
        bars_table(hours, interval="1h"), "AAPL", "1h", "test", start=start, end=end
    )
    days = [old + timedelta(days=i) for i in range(100)]
    await store.write_fetched(
        bars_table(days, interval="1d"), "AAPL", "1d", "test", start=start, end=end
    )

    result = await store.apply_retention(now=NOW)
    assert result.cutoffs == {IntervalClass.INTRADAY: cutoff}
    expected_deleted = sum(1 for t in hours if t < cutoff)
    assert result.deleted_bars == {IntervalClass.INTRADAY: expected_deleted}

    intraday = await store.read_table("AAPL", "1h", start, end)
    assert intraday.num_rows == 100 - expected_deleted
    assert min(intraday["timestamp"].to_pylist()) >= cutoff
    # The deleted stretch is a gap again (to be fetched), not a silent hole.
    assert await store.missing("AAPL", "1h", "test", start, end) == [_range(start, cutoff)]
    # Daily bars and their coverage are kept.
    assert (await store.read_table("AAPL", "1d", start, end)).num_rows == 100
    assert await store.missing("AAPL", "1d", "test", start, end) == []

    # A second run finds nothing more to do.
    again = await store.apply_retention(now=NOW)
    assert again.deleted_bars == {IntervalClass.INTRADAY: 0}
    assert again.trimmed_ranges == {IntervalClass.INTRADAY: 0}


async def test_retention_of_a_range_entirely_past_cutoff_removes_its_coverage(store: Store):
    start = NOW - timedelta(days=500)
    await store.write_fetched(
        bars_table([start], interval="5m"),
        "AAPL",
        "5m",
        "test",
        start=start,
        end=start + timedelta(days=1),
    )
    await store.apply_retention(now=NOW)
    assert await store.covered("AAPL", "5m", "test", start, NOW) == []


async def test_daily_retention_when_configured(fresh_database_url):
    config = RetentionConfig(intraday_days=None, daily_days=30)
    async with Store(fresh_database_url, retention=config, run_retention=False) as store:
        await store.upsert(
            bars_table([NOW - timedelta(days=40), NOW - timedelta(days=1)], interval="1wk")
        )
        result = await store.apply_retention(now=NOW)
        assert result.deleted_bars == {IntervalClass.DAILY: 1}


async def test_job_runs_and_stops_cleanly():
    runs = 0
    ran = asyncio.Event()

    async def run_once():
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("a failed run is logged, the job goes on")
        ran.set()

    job = RetentionJob(run_once, interval_seconds=0.01)
    await job.start()
    await asyncio.wait_for(ran.wait(), 5)
    assert job.running
    await job.stop()
    assert not job.running


async def test_store_starts_and_stops_its_job(fresh_database_url):
    store = Store(fresh_database_url, retention=RetentionConfig(interval_seconds=3600))
    await store.start()
    assert store._retention_job is not None
    assert store._retention_job.running
    await store.stop()
    assert not store._retention_job.running


def _range(a: datetime, b: datetime) -> TimeRange:
    return TimeRange(a, b)
