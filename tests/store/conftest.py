"""Fixtures for the store tests: a started Store on a fresh database, and bar tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import adbc_driver_manager
import pyarrow as pa
import pytest

from timebase.store import BAR_SCHEMA, Store

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def bars_table(
    timestamps: Sequence[datetime],
    *,
    symbol: str = "AAPL",
    interval: str = "1m",
    provider: str = "test",
    close: Sequence[float] | None = None,
    metadata: Sequence[str | None] | None = None,
    **overrides: Sequence[Any],
) -> pa.Table:
    """Valid bars at `timestamps` (open=low=1, high=3, close=2 unless given)."""
    n = len(timestamps)
    columns: dict[str, Sequence[Any]] = {
        "symbol": [symbol] * n,
        "timestamp": list(timestamps),
        "open": [1.0] * n,
        "high": [3.0] * n,
        "low": [1.0] * n,
        "close": list(close) if close is not None else [2.0] * n,
        "volume": [100.0] * n,
        "interval": [interval] * n,
        "provider": [provider] * n,
        "metadata": list(metadata) if metadata is not None else [None] * n,
    }
    columns.update(overrides)
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in BAR_SCHEMA})


def minutes(
    count: int, start: datetime = T0, step: timedelta = timedelta(minutes=1)
) -> list[datetime]:
    return [start + i * step for i in range(count)]


@pytest.fixture
async def store(fresh_database_url: str) -> AsyncIterator[Store]:
    store = Store(fresh_database_url, pool_size=4, run_retention=False)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def compress_chunks(store: Store, table: str = "bars_intraday") -> int:
    """Compress every chunk of hypertable `table` (`compress_chunk`, one chunk per transaction,
    as TimescaleDB's policy does); return how many of its chunks are compressed then.

    On a server whose background workers run TimeBase's compression policy meanwhile (an
    external TIMEBASE_TEST_TIMESCALE_URL), the policy may compress a chunk first: that chunk is
    compressed all the same.
    """

    def run(conn: Any) -> int:
        with conn.cursor() as cur:
            cur.execute(f"SELECT c::text FROM show_chunks('{table}') c")
            chunks = [str(chunk) for (chunk,) in cur.fetchall()]
        conn.commit()
        for chunk in chunks:
            try:
                with conn.cursor() as cur:
                    cur.execute(f"SELECT compress_chunk('{chunk}', if_not_compressed => TRUE)")
                    cur.fetchall()
                conn.commit()
            except adbc_driver_manager.Error as exc:
                conn.rollback()
                if "is already compressed" not in str(exc):
                    raise
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM timescaledb_information.chunks "
                f"WHERE hypertable_name = '{table}' AND is_compressed"
            )
            ((count,),) = cur.fetchall()
        return int(count)

    return await store.pool.run(run)
