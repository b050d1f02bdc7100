"""The ingest fast path (COPY straight into the table) and its fallbacks store the same rows."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pyarrow as pa
from adbc_driver_postgresql import dbapi

from timebase.store import Store
from timebase.store.prices import PRICE_SELECT

from .conftest import T0, bars_table, minutes

END = T0 + timedelta(days=1)
N = 50
_METADATA = [
    '{"b": 1, "a": {"z": [1, 2.50, "x"], "y": null}}',
    '{ "spaced" :  "€ \\u00e9 \\n" , "n": -0.0 }',
    None,
    '{"aa": true, "a": false}',
    "{}",
]


def _batch(symbol: str) -> pa.Table:
    closes = [1.0 + i / 7 for i in range(N)]
    meta = [_METADATA[i % len(_METADATA)] for i in range(N)]
    return bars_table(minutes(N), symbol=symbol, close=closes, high=[9.0] * N, metadata=meta)


def _stored(url: str, symbol: str) -> list[tuple[Any, ...]]:
    """Every stored column of `symbol`'s bars (jsonb as text): the prices as read (decoded),
    then as the database holds them (float8 and scaled integer columns)."""
    with dbapi.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"""SELECT "interval", provider, ts, {PRICE_SELECT}, volume, metadata::text,
                   open AS raw_open, high AS raw_high, low AS raw_low, close AS raw_close,
                   open_i, high_i, low_i, close_i, price_scale
               FROM bars_intraday WHERE symbol = $1 ORDER BY ts""",
            parameters=(symbol,),
        )
        return [tuple(row) for row in cur.fetchall()]


async def test_fast_path_and_staged_upsert_store_identical_rows(store: Store):
    # An empty series: the fast path (every row counted as written).
    assert await store.upsert(_batch("FAST")) == N
    # One of the batch's keys already stored, unchanged: the staged upsert (it is not rewritten).
    slow = _batch("SLOW")
    assert await store.upsert(slow.slice(N // 2, 1)) == 1
    assert await store.upsert(slow) == N - 1

    fast_rows = await asyncio.to_thread(_stored, store.url, "FAST")
    slow_rows = await asyncio.to_thread(_stored, store.url, "SLOW")
    assert len(fast_rows) == N
    assert fast_rows == slow_rows
    assert fast_rows[1][8] == '{"n": 0.0, "spaced": "€ é \\n"}'  # jsonb's own text form
    read_fast = await store.read_table("FAST", "1m", T0, END)
    read_slow = await store.read_table("SLOW", "1m", T0, END)
    assert read_fast.drop_columns(["symbol"]).equals(read_slow.drop_columns(["symbol"]))


async def test_a_key_stored_between_probe_and_copy_falls_back_to_the_upsert(store: Store):
    """A writer that takes no lock (an older gateway) holds one of the batch's keys when the
    fast path probes; the COPY waits for it, fails, and the write runs again, staged."""
    batch = _batch("RACE")

    inserted = threading.Event()

    def hold_key_until_copy_waits() -> None:
        with dbapi.connect(store.url) as conn:
            with conn.cursor() as cur:
                cur.execute(
                    """INSERT INTO bars_intraday
                           (symbol, "interval", provider, ts, open, high, low, close, volume)
                       VALUES ('RACE', '1m', 'test', $1, 1, 100, 1, 99, 100)""",
                    parameters=(T0 + timedelta(minutes=3),),
                )
            inserted.set()  # in, not committed yet
            with dbapi.connect(store.url, autocommit=True) as probe, probe.cursor() as cur:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    cur.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE query LIKE 'COPY%bars_intraday%' AND wait_event_type = 'Lock'"
                    )
                    if cur.fetchall()[0][0]:
                        break
                    time.sleep(0.02)
                else:
                    raise AssertionError("the fast path's COPY never waited for the key")
            conn.commit()

    holder = asyncio.create_task(asyncio.to_thread(hold_key_until_copy_waits))
    assert await asyncio.to_thread(inserted.wait, 60)
    written = await store.upsert(batch)
    await holder
    assert written == N  # the staged upsert: N - 1 inserted and the held key updated
    await store.upsert(_batch("FAST"))
    race = await asyncio.to_thread(_stored, store.url, "RACE")
    fast = await asyncio.to_thread(_stored, store.url, "FAST")
    assert race == fast  # the batch's values won, exactly as the fast path stores them


async def test_a_batch_with_a_repeated_key_takes_the_upsert_and_keeps_the_last(store: Store):
    repeated = bars_table([T0], symbol="DUP", close=[42.0], high=[50.0])
    batch = pa.concat_tables([_batch("DUP"), repeated])
    assert await store.upsert(batch) == N
    rows = await asyncio.to_thread(_stored, store.url, "DUP")
    assert len(rows) == N
    assert rows[0][6] == 42.0  # the batch's last row of the key
