"""Blocking reads on a thread that is not the loop's: key-ordered reads turn the sort off for
their transaction only, and large reads stream in batches of about `BATCH_BYTES`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pyarrow as pa
import pytest

from tests.store.conftest import T0, bars_table, minutes
from timebase.store import BAR_SCHEMA, Store, thread_reads
from timebase.store.bars import BarQuery
from timebase.store.thread_reads import ThreadBarReader, key_ordered

pytestmark = pytest.mark.asyncio

T = TypeVar("T")
ROWS = 20_000


def _setting(reader: ThreadBarReader) -> str:
    """`enable_sort` in the reader's transaction."""
    with reader._conn.raw.cursor() as cur:
        cur.execute("SELECT current_setting('enable_sort')")
        ((value,),) = cur.fetchall()
    return str(value)


async def _in_thread(store: Store, work: Any) -> Any:
    """`work(reader)` on a worker thread, the lease and release going through the loop."""
    loop = asyncio.get_running_loop()

    def call(coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def run() -> Any:
        with thread_reads.thread_reader(store.pool, call, call) as reader:
            return work(reader)

    return await asyncio.to_thread(run)


async def _seed(store: Store) -> None:
    stamps = minutes(ROWS)
    closes = [100.0 + i for i in range(ROWS)]
    await store.upsert(bars_table(stamps, provider="alpha", close=closes))
    await store.upsert(bars_table(stamps[:10], provider="beta", close=[7.0] * 10))


async def test_only_one_provider_without_a_limit_is_key_ordered() -> None:
    end = T0.replace(year=2025)
    assert key_ordered(BarQuery.build(["B", "A"], "1m", T0, end, provider="alpha"))
    assert not key_ordered(BarQuery.build("A", "1m", T0, end))
    assert not key_ordered(BarQuery.build("A", "1m", T0, end, provider="alpha", limit=5))


async def test_a_key_ordered_read_streams_every_bar_in_order_in_small_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(store)
    monkeypatch.setattr(thread_reads, "BATCH_BYTES", 64 << 10)
    end = minutes(ROWS + 1)[-1]
    query = BarQuery.build("aapl", "1m", T0, end, provider="alpha")

    def work(reader: ThreadBarReader) -> tuple[list[pa.RecordBatch], str]:
        return list(reader.batches(query)), _setting(reader)

    batches, setting = await _in_thread(store, work)
    table = pa.Table.from_batches(batches, schema=BAR_SCHEMA)
    assert setting == "off"
    assert len(batches) > 5  # 20,000 rows of ≈ 100 B in batches of about 64 KiB
    assert all(b.schema == BAR_SCHEMA for b in batches)
    assert table.num_rows == ROWS
    assert table["timestamp"].to_pylist() == minutes(ROWS)
    assert table["close"].to_pylist() == [100.0 + i for i in range(ROWS)]
    assert set(table["provider"].to_pylist()) == {"alpha"}


async def test_a_read_of_every_provider_sorts_again_and_nothing_leaks_to_the_pool(
    store: Store,
) -> None:
    await _seed(store)
    end = minutes(11)[-1]
    one = BarQuery.build("AAPL", "1m", T0, end, provider="beta")
    every = BarQuery.build("AAPL", "1m", T0, end)

    def work(reader: ThreadBarReader) -> tuple[str, str, pa.Table]:
        list(reader.batches(one))
        after_one = _setting(reader)
        table = reader.table([every])
        return after_one, _setting(reader), table

    after_one, after_every, table = await _in_thread(store, work)
    assert (after_one, after_every) == ("off", "on")
    # Ordered by symbol, timestamp, provider: alpha and beta at each of the first 10 minutes.
    assert table["provider"].to_pylist() == ["alpha", "beta"] * 10
    assert table["close"].to_pylist() == [x for i in range(10) for x in (100.0 + i, 7.0)]

    def fresh(reader: ThreadBarReader) -> str:
        return _setting(reader)

    # The read transaction was rolled back: the next lease (the same connection) sorts again.
    assert await _in_thread(store, fresh) == "on"
