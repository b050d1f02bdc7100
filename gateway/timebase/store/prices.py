"""Prices stored as scaled integers where that is exact, `float8` where it is not.

A compressed TimescaleDB chunk stores a `float8` column with Gorilla (XOR of consecutive
values): a random walk rounded to 4 decimals keeps ~45 significant bits per value, ≈ 6 B per
price. The same prices as integers (`round(price × 10^scale)`) compress with delta-delta to
≈ 2 B (docs/timescaledb.md has the measurements). So each row is stored either way:

- `price_scale` k (0..8) and `open_i` … `close_i` = the four prices × 10^k, when for every one
  of them `open_i / 10^k` (IEEE division, as PostgreSQL reads it back) is bit-for-bit the
  price, with the `float8` columns NULL;
- otherwise (a price with more decimals, e.g. a float32 artefact like 187.3300018310547, or -0.0)
  `price_scale` NULL and the `float8` columns as given.

The smallest exact k is chosen, so a series keeps one scale and the scale column costs nothing
compressed. Reads decode with `PRICE_SELECT`: every door gets the `float8` it was given.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from timebase.store.schema import PRICE_COLUMNS

#: Decimal places tried, smallest first.
SCALES = range(9)
#: Integers beyond 2^53 do not convert to float8 exactly.
_MAX_EXACT = float(2**53)


#: 10^k for each scale (exact in float64).
_FACTORS = np.array([10.0**k for k in SCALES], np.float64)


#: The stored integer columns, in `PRICE_COLUMNS` order.
INT_COLUMNS = tuple(f"{name}_i" for name in PRICE_COLUMNS)
SCALE_COLUMN = "price_scale"
_FACTORS_SQL = "ARRAY[" + ", ".join(f"1e{k}" for k in SCALES) + "]::float8[]"


def decoded(name: str, alias: str = "") -> str:
    """SQL of price column `name` (open, high, low, close) as it was written."""
    prefix = f"{alias}." if alias else ""
    return (
        f"COALESCE({prefix}{name}, {prefix}{name}_i::float8 / "
        f"({_FACTORS_SQL})[{prefix}{SCALE_COLUMN} + 1])"
    )


#: The four prices of a bars table as written: `open, high, low, close` for a SELECT.
PRICE_SELECT = ", ".join(f"{decoded(name)} AS {name}" for name in PRICE_COLUMNS)


def plain_prices(table: pa.Table) -> pa.Table:
    """`table` with `price_scale` and `open_i` … `close_i` added, all null: every price kept as
    `float8`, readable by gateways from before migration 0018 (`database.scaled_prices` off,
    for a rolling upgrade: docs/upgrades.md)."""
    for int_name in INT_COLUMNS:
        table = table.append_column(int_name, pa.nulls(table.num_rows, pa.int64()))
    return table.append_column(SCALE_COLUMN, pa.nulls(table.num_rows, pa.int16()))


def encode_prices(table: pa.Table) -> pa.Table:
    """`table` with `price_scale` and `open_i` … `close_i` added and, in the rows they encode
    exactly, the `float8` prices set to null (module docstring).

    The four prices are tested together as one numpy array (4 × rows), a scale at a time: the
    same IEEE operations as PostgreSQL's read back (multiply, round half to even, divide)."""
    n = table.num_rows
    # A null price (none after validation) is NaN here: never exact, so its row stays float8.
    prices = (
        np.stack(
            [
                table[name].to_numpy(zero_copy_only=False).astype(np.float64)
                for name in PRICE_COLUMNS
            ]
        )
        if n
        else np.empty((len(PRICE_COLUMNS), 0))
    )
    # -0.0 equals 0.0, but would read back as 0.0: a row with one is kept as float8 (no scale).
    pending = ~np.any((prices == 0.0) & np.signbit(prices), axis=0)
    scale = np.full(n, -1, np.int16)
    with np.errstate(invalid="ignore", over="ignore"):
        for k in SCALES:
            if not pending.any():  # every row has its smallest scale: larger ones change nothing
                break
            factor = _FACTORS[k]
            rows = None if pending.all() else np.flatnonzero(pending)
            part = prices if rows is None else prices[:, rows]
            scaled = np.round(part * factor)
            exact = np.all((scaled / factor == part) & (np.abs(scaled) < _MAX_EXACT), axis=0)
            found = np.flatnonzero(exact) if rows is None else rows[exact]
            scale[found] = k
            pending[found] = False
        kept = scale < 0
        factors = _FACTORS[np.where(kept, 0, scale)]
        ints = np.round(prices * factors).astype(np.int64)
    keep = pa.array(kept)
    for i, (name, int_name) in enumerate(zip(PRICE_COLUMNS, INT_COLUMNS, strict=True)):
        table = table.set_column(
            table.schema.get_field_index(name),
            name,
            pc.if_else(keep, table[name], pa.scalar(None, pa.float64())),
        )
        table = table.append_column(int_name, pa.array(ints[i], pa.int64(), mask=kept))
    return table.append_column(SCALE_COLUMN, pa.array(scale, pa.int16(), mask=kept))
