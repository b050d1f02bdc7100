"""The TimescaleDB branch: runs only against TIMEBASE_TEST_TIMESCALE_URL (a superuser URL of a
server with the timescaledb extension preloaded); every test gets a fresh database there."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import create_database
from timebase.sdk.intervals import IntervalClass
from timebase.store import Store

from .conftest import bars_table

TIMESCALE_URL = os.environ.get("TIMEBASE_TEST_TIMESCALE_URL")

pytestmark = [
    pytest.mark.timescale,
    pytest.mark.skipif(not TIMESCALE_URL, reason="TIMEBASE_TEST_TIMESCALE_URL is not set"),
]

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def timescale_url() -> str:
    assert TIMESCALE_URL
    return create_database(TIMESCALE_URL, prefix="ts")


async def _query(store: Store, sql: str) -> list[tuple[object, ...]]:
    def run(conn):
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    return await store.pool.run(run)


HYPERTABLES = (
    "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
    "ORDER BY 1"
)
AGGREGATES = "SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1"
JOBS = (
    "SELECT proc_name, count(*) FROM timescaledb_information.jobs "
    "WHERE proc_name IN ('policy_compression', 'policy_refresh_continuous_aggregate') "
    "GROUP BY 1 ORDER BY 1"
)


async def test_features_are_set_up_and_idempotent(timescale_url, caplog):
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(timescale_url, run_retention=False) as store:
        assert store.timescale.enabled
        assert store.timescale.version
        tables = await _query(store, HYPERTABLES)
        assert tables == [("bars_daily", True), ("bars_intraday", True)]
        caggs = await _query(store, AGGREGATES)
        assert caggs == [("bars_daily_agg",)]
        jobs = await _query(store, JOBS)
        assert jobs == [("policy_compression", 2), ("policy_refresh_continuous_aggregate", 1)]
    # A second start finds everything in place and adds nothing: no second hypertable,
    # aggregate or policy job.
    async with Store(timescale_url, run_retention=False) as store:
        assert store.timescale.enabled
        assert await _query(store, HYPERTABLES) == tables
        assert await _query(store, AGGREGATES) == caggs
        assert await _query(store, JOBS) == jobs
    assert any("TimescaleDB" in r.getMessage() for r in caplog.records)


async def test_same_queries_and_retention_drop_chunks(timescale_url):
    async with Store(timescale_url, run_retention=False) as store:
        old = NOW - timedelta(days=400)
        hours = [old + timedelta(hours=6 * i) for i in range(4 * 100)]
        await store.write_fetched(
            bars_table(hours, interval="1h"),
            "AAPL",
            "1h",
            "test",
            start=old,
            end=hours[-1] + timedelta(hours=1),
        )
        days = [old + timedelta(days=i) for i in range(100)]
        await store.upsert(bars_table(days, interval="1d"))
        got = await store.read_table("AAPL", "1h", old, NOW, limit=5)
        assert got["timestamp"].to_pylist() == hours[-5:]

        result = await store.apply_retention(now=NOW)
        cutoff = NOW - timedelta(days=365)
        assert result.dropped_chunks[IntervalClass.INTRADAY] > 0
        remaining = await store.read_table("AAPL", "1h", old, NOW)
        assert remaining["timestamp"].to_pylist() == [t for t in hours if t >= cutoff]
        missing = await store.missing("AAPL", "1h", "test", old, NOW)
        assert missing[0].start == old
        assert missing[0].end == cutoff
        assert (await store.read_table("AAPL", "1d", old, NOW)).num_rows == 100
