from __future__ import annotations

import asyncio
import json
import struct
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pyarrow as pa
import pytest

from timebase.sdk.errors import (
    InvalidDataError,
    InvalidIntervalError,
    InvalidRequestError,
    InvalidTimeRangeError,
)
from timebase.store import BAR_SCHEMA, Dataset, SeriesKey, Store
from timebase.store.bars import BarQuery, check_range, conform, normalize_symbol

from .conftest import T0, bars_table, minutes

END = T0 + timedelta(days=1)


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


async def test_round_trip_is_exact(store: Store):
    awkward = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 123456.789012345678]
    stamps = [
        datetime(2024, 1, 2, 14, 30, 0, 1, tzinfo=UTC),
        datetime(2024, 1, 2, 14, 30, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, tzinfo=UTC),
    ]
    meta = ['{"adjusted": true, "nested": {"a": [1, 2.5, "x"]}, "unicode": "€"}', None] * 3
    table = bars_table(
        stamps,
        open=awkward,
        high=awkward,
        low=awkward,
        close=awkward,
        volume=[abs(v) for v in awkward],
        metadata=meta,
    )
    assert await store.upsert(table) == 6

    got = await store.read_table(
        "aapl", "1m", datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    )
    assert got.schema == BAR_SCHEMA
    expected = table.sort_by("timestamp")
    assert got["timestamp"].to_pylist() == expected["timestamp"].to_pylist()
    assert got["timestamp"].type == pa.timestamp("us", tz="UTC")
    for name in ("open", "high", "low", "close", "volume"):
        assert _bits(got[name].to_pylist()) == _bits(expected[name].to_pylist()), name
    for before, after in zip(
        expected["metadata"].to_pylist(), got["metadata"].to_pylist(), strict=True
    ):
        assert (None if after is None else json.loads(after)) == (
            None if before is None else json.loads(before)
        )
    assert set(got["symbol"].to_pylist()) == {"AAPL"}


async def test_overlapping_batches_leave_one_row_per_key_newest_wins(store: Store):
    first = bars_table(minutes(10), close=[2.0] * 10)
    second = bars_table(minutes(10, T0 + timedelta(minutes=5)), close=[2.5] * 10)
    assert await store.upsert(first) == 10
    assert await store.upsert(second) == 10  # 5 updated + 5 new
    assert await store.upsert(second) == 0  # unchanged rows are not rewritten

    got = await store.read_table("AAPL", "1m", T0, END)
    assert got.num_rows == 15
    assert got["timestamp"].to_pylist() == minutes(15)
    assert got["close"].to_pylist() == [2.0] * 5 + [2.5] * 10


async def test_repeated_key_inside_one_upsert_keeps_the_last(store: Store):
    table = bars_table([T0, T0], close=[1.5, 2.5])
    assert await store.upsert(table) == 1
    got = await store.read_table("AAPL", "1m", T0, END)
    assert got["close"].to_pylist() == [2.5]


async def test_two_concurrent_writers_same_keys(store: Store):
    stamps = minutes(500)
    a = bars_table(stamps, close=[2.0] * 500)
    b = bars_table(list(reversed(stamps)), close=[2.5] * 500)
    results = await asyncio.gather(*(store.upsert(t) for t in (a, b, a, b)))
    # Keys are locked in one order, so the writers take turns over whole batches: each write
    # changes all 500 rows or none (same close as the batch before it), and as both values are
    # written at least once, at least two writes change rows (the first and each alternation).
    assert set(results) <= {0, 500}, results
    assert 2 <= results.count(500) <= 4, results
    got = await store.read_table("AAPL", "1m", T0, END)
    assert got.num_rows == 500
    assert got["timestamp"].to_pylist() == stamps
    closes = set(got["close"].to_pylist())
    assert closes in ({2.0}, {2.5}), closes  # one writer's batch, not a mixture
    assert len(set(got["close"].to_pylist())) == 1  # one writer's values, whole


async def test_half_open_range(store: Store):
    await store.upsert(bars_table(minutes(5)))
    got = await store.read_table("AAPL", "1m", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    assert got["timestamp"].to_pylist() == minutes(2, T0 + timedelta(minutes=1))
    empty = await store.read_table("AAPL", "1m", T0 + timedelta(minutes=5), END)
    assert empty.num_rows == 0
    assert empty.schema == BAR_SCHEMA


async def test_many_symbols_provider_filter_and_order(store: Store):
    await store.upsert(bars_table(minutes(3), symbol="MSFT", provider="a"))
    await store.upsert(bars_table(minutes(3), symbol="AAPL", provider="b"))
    await store.upsert(bars_table(minutes(3), symbol="AAPL", provider="a"))
    await store.upsert(bars_table(minutes(3), symbol="AAPL", interval="5m", provider="a"))

    got = await store.read_table(["msft", "AAPL"], "1m", T0, END)
    rows = [(r["symbol"], r["timestamp"], r["provider"]) for r in got.to_pylist()]
    assert rows == sorted(rows)
    assert len(rows) == 9
    assert {r["interval"] for r in got.to_pylist()} == {"1m"}

    only_a = await store.read_table(["MSFT", "AAPL"], "1m", T0, END, provider="a")
    assert only_a.num_rows == 6
    assert set(only_a["provider"].to_pylist()) == {"a"}


async def test_limit_is_most_recent_in_ascending_order(store: Store):
    await store.upsert(bars_table(minutes(10), symbol="AAPL"))
    await store.upsert(bars_table(minutes(10), symbol="MSFT"))
    got = await store.read_table(["AAPL", "MSFT"], "1m", T0, T0 + timedelta(minutes=8), limit=3)
    assert got["symbol"].to_pylist() == ["AAPL"] * 3 + ["MSFT"] * 3
    expected = minutes(3, T0 + timedelta(minutes=5))
    assert got["timestamp"].to_pylist() == expected * 2


async def test_stream_yields_several_batches_and_releases_connection(store: Store):
    stamps = minutes(20_000, step=timedelta(seconds=60))
    await store.upsert(bars_table(stamps))
    batches = []
    async with store.read("AAPL", "1m", T0, T0 + timedelta(days=30)) as stream:
        async for batch in stream:
            assert batch.schema == BAR_SCHEMA
            batches.append(batch)
    assert sum(b.num_rows for b in batches) == 20_000
    # Abandoning a stream early gives its connection back too.
    for _ in range(store.pool.size + 1):
        async with store.read("AAPL", "1m", T0, T0 + timedelta(days=30)) as stream:
            async for _batch in stream:
                break
    assert (await store.read_table("AAPL", "1m", T0, T0 + timedelta(minutes=1))).num_rows == 1


async def test_datasets_and_latest(store: Store):
    await store.upsert(bars_table(minutes(3), symbol="AAPL", provider="a"))
    await store.upsert(bars_table([T0], symbol="AAPL", interval="1d", provider="a"))
    assert await store.datasets() == [
        Dataset("AAPL", "1d", "a", 1, T0, T0),
        Dataset("AAPL", "1m", "a", 3, T0, T0 + timedelta(minutes=2)),
    ]
    assert await store.datasets("msft") == []
    assert await store.latest(["aapl"], "1m") == {
        SeriesKey("AAPL", "1m", "a"): T0 + timedelta(minutes=2)
    }
    assert len(await store.latest()) == 2


async def test_latest_per_symbol_finds_every_series_by_index_probes(store: Store):
    """The per-symbol lookup (the gateway's hot path) answers like a full scan would."""
    day = timedelta(days=1)
    await store.upsert(bars_table(minutes(5), symbol="AAPL", provider="a"))
    await store.upsert(bars_table(minutes(2), symbol="AAPL", provider="b"))
    await store.upsert(bars_table(minutes(7), symbol="AAPL", interval="5m", provider="a"))
    await store.upsert(bars_table([T0, T0 + day], symbol="AAPL", interval="1d", provider="z"))
    await store.upsert(bars_table([T0 + 9 * day], symbol="MSFT", interval="1d", provider="a"))
    everything = await store.latest()
    aapl = {k: v for k, v in everything.items() if k.symbol == "AAPL"}
    assert await store.latest(["aapl"]) == aapl
    assert aapl == {
        SeriesKey("AAPL", "1m", "a"): T0 + timedelta(minutes=4),
        SeriesKey("AAPL", "1m", "b"): T0 + timedelta(minutes=1),
        SeriesKey("AAPL", "5m", "a"): T0 + timedelta(minutes=6),
        SeriesKey("AAPL", "1d", "z"): T0 + day,
    }
    assert await store.latest(["AAPL", "MSFT"], ["1d", "1m"]) == {
        k: v for k, v in everything.items() if k.interval in {"1d", "1m"}
    }
    assert await store.latest(["AAPL"], "1m", provider="b") == {
        SeriesKey("AAPL", "1m", "b"): T0 + timedelta(minutes=1)
    }
    assert await store.latest(["NOPE"]) == {}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"start": END, "end": T0}, InvalidTimeRangeError),
        ({"start": T0, "end": T0}, InvalidTimeRangeError),
        ({"start": datetime(2024, 1, 1), "end": END}, InvalidTimeRangeError),
        ({"interval": "2m"}, InvalidIntervalError),
        ({"symbols": []}, InvalidRequestError),
        ({"symbols": [" "]}, InvalidRequestError),
        ({"limit": 0}, InvalidRequestError),
    ],
)
async def test_bad_queries_are_refused(store: Store, kwargs, error):
    args = {"symbols": "AAPL", "interval": "1m", "start": T0, "end": END, **kwargs}
    with pytest.raises(error):
        await store.read_table(
            args.pop("symbols"), args.pop("interval"), args.pop("start"), args.pop("end"), **args
        )


async def test_quotes_in_values_are_safe(store: Store):
    await store.upsert(bars_table([T0], symbol="O'REILLY\\X", provider="p'q"))
    got = await store.read_table("o'reilly\\x", "1m", T0, END, provider="p'q")
    assert got["symbol"].to_pylist() == ["O'REILLY\\X"]


class _NoOffset(tzinfo):
    """A time zone that does not know its offset: the datetime counts as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_ranges_need_time_zones_and_start_before_end():
    check_range(T0, T0 + timedelta(microseconds=1))
    naive = datetime(2024, 1, 2, 14, 30)
    with pytest.raises(InvalidTimeRangeError) as start:
        check_range(naive, END)
    assert start.value.message == "start 2024-01-02T14:30:00 has no time zone"
    with pytest.raises(InvalidTimeRangeError) as end:
        check_range(T0, datetime(2024, 1, 3, tzinfo=_NoOffset()))
    assert end.value.message == "end 2024-01-03T00:00:00 has no time zone"
    with pytest.raises(InvalidTimeRangeError) as empty:
        check_range(T0, T0)
    assert empty.value.message == (
        "start must be before end (got [2024-01-02T14:30:00+00:00, 2024-01-02T14:30:00+00:00))"
    )


def test_symbols_are_trimmed_upper_case_and_not_empty():
    assert normalize_symbol(" brk.b ") == "BRK.B"
    with pytest.raises(InvalidRequestError) as blank:
        normalize_symbol(" \t")
    assert blank.value.message == "symbol must not be empty"


async def test_one_batch_across_intraday_and_daily_tables_counts_every_row(store: Store):
    table = pa.concat_tables(
        [bars_table(minutes(3)), bars_table([T0, T0 + timedelta(days=1)], interval="1d")]
    )
    assert await store.upsert(table) == 5
    assert await store.upsert(table) == 0
    intraday = await store.read_table("AAPL", "1m", T0, END)
    assert intraday["timestamp"].to_pylist() == minutes(3)
    daily = await store.read_table("AAPL", "1d", T0, T0 + timedelta(days=2))
    assert daily["timestamp"].to_pylist() == [T0, T0 + timedelta(days=1)]


async def test_an_unvalidated_batch_with_an_unknown_interval_writes_nothing(store: Store):
    table = pa.concat_tables([bars_table(minutes(2)), bars_table([T0], interval="2m")])
    with pytest.raises(InvalidDataError) as error:
        await store.upsert(table)
    assert error.value.message == "batch has rows with an unknown interval; validate it first"
    assert await store.datasets() == []


async def test_an_empty_batch_writes_nothing(store: Store):
    assert await store.upsert(bars_table([])) == 0
    assert await store.datasets() == []


async def test_one_series_read_makes_constant_columns_and_matches_the_full_select(store: Store):
    # One series read whole: the database sends no symbol, interval or provider column; the
    # rows must equal what the full SELECT returns, neighbouring series untouched.
    stamps = minutes(5) + minutes(3, T0 + timedelta(hours=2))  # a gap in the range
    meta = ['{"a": 1}', None, '{"u": "€"}', None, None, '{"b": [2]}', None, None]
    await store.upsert(
        bars_table(
            stamps, provider="p", close=[2.0, 2.5, 1.25, 2.0, 3.0, 1.5, 2.25, 2.75], metadata=meta
        )
    )
    await store.upsert(bars_table(minutes(4), provider="q", close=[1.5] * 4))
    await store.upsert(bars_table(minutes(4), symbol="AAPLX", provider="p"))
    await store.upsert(bars_table(minutes(4), interval="5m", provider="p"))
    query = BarQuery.build("aapl", "1m", T0, END, provider="p")
    assert query.one_series
    assert '"interval", provider' not in query.sql(series_columns=True)

    def full(conn: Any) -> pa.Table:
        with conn.cursor() as cur:
            cur.execute(query.sql())
            return pa.Table.from_batches([conform(b) for b in cur.fetch_record_batch()])

    expected = await store.pool.run(full, doing="reading bars")
    got = await store.read_table("AAPL", "1m", T0, END, provider="p")
    assert got.schema == BAR_SCHEMA
    assert got.equals(expected)
    assert got.num_rows == 8
    assert set(got["symbol"].to_pylist()) == {"AAPL"}
    assert set(got["interval"].to_pylist()) == {"1m"}
    assert set(got["provider"].to_pylist()) == {"p"}
    assert got["close"].to_pylist() == [2.0, 2.5, 1.25, 2.0, 3.0, 1.5, 2.25, 2.75]
    assert got["metadata"].to_pylist()[:3] == ['{"a": 1}', None, '{"u": "€"}']
    empty = await store.read_table(
        "AAPL", "1m", T0 + timedelta(minutes=5), T0 + timedelta(hours=1), provider="p"
    )
    assert empty.num_rows == 0
    assert empty.schema == BAR_SCHEMA
