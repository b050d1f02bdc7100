"""Adjusted prices at query time: back-adjustment from the split and dividend events of the bars.

    mode = check_adjust("all")                            # Adjust.ALL (or InvalidRequestError)
    events = corporate_events(table)                      # the events the bars record
    adjusted = adjust_bars(table, mode, {"yahoo-finance": frozenset({"splits"})})

Stored bars stay exactly as providers give them; adjustment happens here, once, for every door,
after the bars are read. A provider's bars record its events in their metadata (`dividend`: the
cash amount per share, `split`: new shares per old share, e.g. `"10"` for 10-for-1) on the bar
of the ex-date. Each manifest declares what its prices already include
(`prices_adjusted_for`); an adjustment applies only what is still missing, per row's provider.

The method (standard back-adjustment, anchored at the last bar of the answer):

- a split of ratio r on bar i multiplies the prices of every earlier bar by 1/r and their volume
  by r;
- a dividend d on bar i multiplies the prices of every earlier bar by 1 - d / close[i-1] (the
  close of the bar before the ex-date; a dividend on the first bar of the answer has no previous
  close and is left out);
- each bar's factor is the product of the factors of every later event (a reverse cumulative
  product), so the newest bar is never changed.

Everything is pyarrow compute over whole columns: no Python object per bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc

from timebase.sdk.errors import InvalidRequestError
from timebase.sdk.manifest import PRICE_ADJUSTMENTS

#: The events' schema (`corporate_events`).
EVENT_SCHEMA = pa.schema(
    [
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("provider", pa.string()),
        pa.field("kind", pa.string()),  # "dividend" or "split"
        pa.field("value", pa.float64()),
    ]
)

_PRICES = ("open", "high", "low", "close")


class Adjust(StrEnum):
    """What an answer's prices are adjusted for (on top of what the provider already did)."""

    NONE = "none"
    SPLITS = "splits"
    ALL = "all"

    @property
    def kinds(self) -> frozenset[str]:
        if self is Adjust.SPLITS:
            return frozenset({"splits"})
        if self is Adjust.ALL:
            return frozenset(PRICE_ADJUSTMENTS)
        return frozenset()


ADJUST_VALUES = tuple(a.value for a in Adjust)


def check_adjust(raw: str | None, field: str = "adjust", *, empty_ok: bool = True) -> Adjust:
    """`raw` as an `Adjust` (empty or None: none, unless not `empty_ok`), or
    InvalidRequestError naming `field`."""
    value = (raw or "").strip().lower()
    if not value and empty_ok:
        return Adjust.NONE
    try:
        return Adjust(value)
    except ValueError:
        raise InvalidRequestError(
            f"{field}: unknown value {raw!r}; valid values: {', '.join(ADJUST_VALUES)}",
            field=field,
        ) from None


def _metadata_number(metadata: pa.Array, key: str) -> pa.Array:
    """The number under `key` of each row's JSON metadata object (null where absent)."""
    pattern = rf'"{key}"\s*:\s*"?(?P<v>[-+0-9.eE]+)"?'
    found = pc.extract_regex(pc.fill_null(metadata, ""), pattern)
    values = pc.struct_field(found, [0])
    return pc.cast(values, pa.float64())


def _event_columns(table: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Per row: the split ratio (1 where none) and the dividend (0 where none)."""
    if table.num_rows == 0 or "metadata" not in table.column_names:
        ones = pa.array([1.0] * table.num_rows, pa.float64())
        return ones, pc.subtract(ones, ones)
    metadata = table.column("metadata").combine_chunks()
    split = _metadata_number(metadata, "split")
    # A ratio of 0 (or below) is no split: yfinance writes 0.0 for "no split".
    split = pc.if_else(pc.greater(pc.fill_null(split, 0.0), 0.0), split, 1.0)
    dividend = pc.fill_null(_metadata_number(metadata, "dividend"), 0.0)
    return split, dividend


def corporate_events(table: pa.Table) -> pa.Table:
    """The split and dividend events recorded on `table`'s bars (EVENT_SCHEMA, by time)."""
    if table.num_rows == 0:
        return EVENT_SCHEMA.empty_table()
    split, dividend = _event_columns(table)
    parts = []
    for kind, values, mask in (
        ("dividend", dividend, pc.greater(dividend, 0.0)),
        ("split", split, pc.not_equal(split, 1.0)),
    ):
        chosen = table.filter(mask)
        parts.append(
            pa.table(
                {
                    "timestamp": chosen.column("timestamp"),
                    "provider": chosen.column("provider"),
                    "kind": pa.array([kind] * chosen.num_rows, pa.string()),
                    "value": pc.filter(values, mask),
                },
                schema=EVENT_SCHEMA,
            )
        )
    events = pa.concat_tables(parts)
    return events.sort_by([("timestamp", "ascending"), ("kind", "ascending")])


def _later_product(factors: pa.Array) -> pa.Array:
    """out[j] = product of factors[i] for every i > j (1 for the last row)."""
    n = len(factors)
    reverse = pa.array(range(n - 1, -1, -1), pa.int64())
    suffix = pc.take(pc.cumulative_prod(pc.take(factors, reverse)), reverse)  # prod i >= j
    return pa.concat_arrays([suffix.slice(1), pa.array([1.0], pa.float64())])


def _missing(providers: pa.Array, declared: Mapping[str, frozenset[str]], kind: str) -> pa.Array:
    """Per row: whether its provider's prices still lack `kind` (undeclared providers: raw)."""
    already = [slug for slug, kinds in declared.items() if kind in kinds]
    return pc.invert(pc.is_in(providers, value_set=pa.array(already, pa.string())))


def adjust_bars(table: pa.Table, mode: Adjust, declared: Mapping[str, frozenset[str]]) -> pa.Table:
    """`table` (bars by time) adjusted for `mode`, skipping what each row's provider declares
    its prices already include (`declared`: slug → `prices_adjusted_for`)."""
    wanted = mode.kinds
    if not wanted or table.num_rows == 0:
        return table
    split, dividend = _event_columns(table)
    close = table.column("close").combine_chunks()
    previous = pa.concat_arrays([pa.array([None], pa.float64()), close.slice(0, len(close) - 1)])
    providers = table.column("provider").combine_chunks()
    price = pa.array([1.0] * table.num_rows, pa.float64())
    volume = price
    if "splits" in wanted:
        later = _later_product(pc.divide(1.0, split))
        apply = _missing(providers, declared, "splits")
        price = pc.if_else(apply, later, price)
        volume = pc.if_else(apply, pc.divide(1.0, later), volume)
    if "dividends" in wanted:
        factor = pc.fill_null(pc.subtract(1.0, pc.divide(dividend, previous)), 1.0)
        later = _later_product(factor)
        apply = _missing(providers, declared, "dividends")
        price = pc.multiply(price, pc.if_else(apply, later, 1.0))
    columns = {name: table.column(name) for name in table.column_names}
    for name in _PRICES:
        columns[name] = pc.multiply(table.column(name), price)
    columns["volume"] = pc.multiply(table.column("volume"), volume)
    return pa.table(columns, schema=table.schema)
