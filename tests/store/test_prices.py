"""Prices stored as scaled integers where exact, float8 otherwise (`timebase.store.prices`): the
choice per row, and reads that return every price bit for bit on both backends."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from timebase.store import Store
from timebase.store.prices import encode_prices

from .conftest import T0, bars_table, minutes

#: (open, high, low, close) of each row, and the scale it is stored with (None: float8).
ROWS: list[tuple[tuple[float, float, float, float], int | None]] = [
    ((101.25, 101.5, 101.0, 101.375), 3),
    ((187.3300018310547, 190.0, 180.0, 185.0), None),  # a float32 artefact: kept as float8
    ((-37.63, -10.0, -40.32, -37.63), 2),  # negative prices (oil futures, 2020)
    ((0.0, 1.0, 0.0, 1.0), 0),
    ((-0.0, 1.0, -1.0, 0.5), None),  # -0.0 would read back as 0.0
    ((0.1 + 0.2, 1.0, 0.0, 0.5), None),
    ((1e300, 1e300, 1.0, 2.0), None),  # beyond 2^53 once scaled
    ((12345.12345678, 12345.2, 12345.0, 12345.1), 8),
    ((0.123456789, 0.2, 0.1, 0.15), None),  # nine decimals: more than the largest scale
]


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _table() -> pa.Table:
    columns = list(zip(*(prices for prices, _ in ROWS), strict=True))
    return bars_table(
        minutes(len(ROWS)),
        open=list(columns[0]),
        high=list(columns[1]),
        low=list(columns[2]),
        close=list(columns[3]),
    )


def test_each_row_gets_the_smallest_exact_scale() -> None:
    encoded = encode_prices(_table())
    assert encoded["price_scale"].to_pylist() == [scale for _, scale in ROWS]
    assert encoded["open_i"].to_pylist() == [
        None if scale is None else round(prices[0] * 10**scale) for prices, scale in ROWS
    ]
    for name in ("open", "high", "low", "close"):
        kept = encoded[name].to_pylist()
        assert [v is None for v in kept] == [scale is not None for _, scale in ROWS], name


def test_a_batch_whose_rows_all_find_a_scale_early_gets_the_same_encoding() -> None:
    # Every row is exact at 0 or 2 decimals: the larger scales are not tried, and change nothing.
    table = bars_table(
        minutes(3),
        open=[101.25, 7.0, -37.63],
        high=[101.5, 8.0, -10.0],
        low=[101.0, 6.0, -40.32],
        close=[101.37, 7.0, -37.63],
    )
    encoded = encode_prices(table)
    assert encoded["price_scale"].to_pylist() == [2, 0, 2]
    assert encoded["close_i"].to_pylist() == [10137, 7, -3763]
    assert encoded["low_i"].to_pylist() == [10100, 6, -4032]
    assert encoded["close"].to_pylist() == [None, None, None]


async def test_stored_and_read_back_bit_for_bit(store: Store) -> None:
    table = _table()
    assert await store.upsert(table) == len(ROWS)
    got = await store.read_table("aapl", "1m", T0, T0 + timedelta(days=1))
    for name in ("open", "high", "low", "close"):
        assert _bits(got[name].to_pylist()) == _bits(table[name].to_pylist()), name
    stored = await store.pool.run(
        lambda conn: _fetch(conn, "SELECT price_scale FROM bars_intraday ORDER BY ts")
    )
    assert stored == [scale for _, scale in ROWS]


async def test_a_rewrite_switches_representation_and_reads_the_new_values(store: Store) -> None:
    """The same key written as float8, then as scaled integers, then back: each read is exact,
    and an unchanged rewrite changes nothing."""
    at = [datetime(2024, 3, 1, 15, tzinfo=UTC)]
    # (value, rows written): float8, scaled, float8 again, the same once more (nothing changes)
    for value, expected in ((187.3300018310547, 1), (187.33, 1), (0.1 + 0.2, 1), (0.1 + 0.2, 0)):
        table = bars_table(at, open=[value], high=[value], low=[value], close=[value])
        assert await store.upsert(table) == expected
        got = await store.read_table("aapl", "1m", at[0], at[0] + timedelta(minutes=1))
        assert _bits(got["close"].to_pylist()) == _bits([value])


def _fetch(conn: object, sql: str) -> list[object]:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(sql)
        return [row[0] for row in cur.fetchall()]


async def test_scaled_prices_off_writes_every_price_as_float8_then_on_rewrites_them(
    store: Store,
) -> None:
    """`database.scaled_prices: false` (a rolling upgrade from before migration 0018): the raw
    float8 columns hold every price, as an older gateway reads them; switched on again, the
    same rows are rewritten scaled and read back identically."""
    table = _table()
    store.scaled_prices = False
    assert await store.upsert(table) == len(ROWS)
    raw = await store.pool.run(
        lambda conn: _fetch(conn, "SELECT close FROM bars_intraday ORDER BY ts")
    )
    assert _bits(raw) == _bits(table["close"].to_pylist())  # type: ignore[arg-type]
    scales = await store.pool.run(
        lambda conn: _fetch(conn, "SELECT price_scale FROM bars_intraday ORDER BY ts")
    )
    assert scales == [None] * len(ROWS)
    store.scaled_prices = True
    assert await store.upsert(table) == sum(1 for _, scale in ROWS if scale is not None)
    got = await store.read_table("aapl", "1m", T0, T0 + timedelta(days=1))
    assert _bits(got["close"].to_pylist()) == _bits(table["close"].to_pylist())


def _reference_scale(prices: tuple[float, ...]) -> int | None:
    """The smallest exact scale of one row, value by value (Python's round: half to even)."""
    if any(p == 0.0 and struct.pack("<d", p)[-1] & 0x80 for p in prices):
        return None  # -0.0
    for k in range(9):
        factor = 10.0**k
        scaled = [round(p * factor) for p in prices if abs(p * factor) < 2.0**63]
        if len(scaled) == len(prices) and all(
            s / factor == p and abs(s) < 2**53 for s, p in zip(scaled, prices, strict=True)
        ):
            return k
    return None


def test_a_large_mixed_batch_gets_each_rows_own_scale() -> None:
    # Rows that find their scale at different steps, and rows that find none, side by side.
    base = [
        *(row for row, _ in ROWS),
        (3.5, 4.0, 3.0, 3.5),
        (2.675, 2.7, 2.6, 2.65),
        (99.99, 100.0, 99.9, 99.95),
        (1e-7, 2e-7, 1e-7, 1.5e-7),
        (1e15, 1e15, 1e15, 1e15),
    ]
    rows = [base[(i * 5) % len(base)] for i in range(3000)]  # 5 and 14: coprime
    columns = list(zip(*rows, strict=True))
    table = bars_table(
        minutes(len(rows)),
        open=list(columns[0]),
        high=list(columns[1]),
        low=list(columns[2]),
        close=list(columns[3]),
    )
    encoded = encode_prices(table)
    expected = [_reference_scale(row) for row in rows]
    assert encoded["price_scale"].to_pylist() == expected
    assert len(set(expected)) > 5  # several scales, and float8 rows, in one batch
    assert encoded["high_i"].to_pylist() == [
        None if k is None else round(row[1] * 10**k) for row, k in zip(rows, expected, strict=True)
    ]
    assert _bits([v for v in encoded["low"].to_pylist() if v is not None]) == _bits(
        [row[2] for row, k in zip(rows, expected, strict=True) if k is None]
    )
