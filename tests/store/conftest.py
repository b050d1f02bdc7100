"""Fixtures for the store tests: a started Store on a fresh database, and bar tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

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
