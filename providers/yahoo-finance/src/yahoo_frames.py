"""yfinance DataFrames → Arrow record batches in TimeBase's conventions (vectorised).

- Daily, weekly and monthly rows are keyed at 00:00 UTC of their trading DATE: yfinance gives them
  at exchange-local midnight, so the wall-clock date is kept and the instant is not converted
  (a Tokyo or Sydney session never slides onto the previous UTC day).
- Intraday rows are keyed at their real start instant, in UTC (New York hourly bars start at :30).
- Rows missing a price are dropped; a missing volume is 0.
- Metadata per row: ``adj_close`` (Yahoo's dividend-and-split-adjusted close; daily and longer
  only — Yahoo has no adjusted intraday close, yfinance just copies the close), ``dividend`` and
  ``split`` (ratio, e.g. 10 for 10-for-1) when the row carries one.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from timebase.sdk import batch_schema

UTC_US = pa.timestamp("us", tz="UTC")
F64 = pa.float64()
SCHEMA = batch_schema()
_EXTRAS = (("Adj Close", "adj_close", False), ("Dividends", "dividend", True),
           ("Stock Splits", "split", True))  # fmt: skip


def _column(df: Any, name: str) -> pa.Array:
    return pa.array(df[name].to_numpy(dtype="float64", na_value=float("nan")), F64,
                    from_pandas=True)  # fmt: skip


def _fragment(key: str, values: pa.Array, positive_only: bool) -> pa.Array:
    """`,"key":<number>` per row; '' where the value is missing, not finite (or not > 0)."""
    keep = pc.is_finite(values)
    if positive_only:
        keep = pc.and_(keep, pc.greater(values, 0.0))
    text = pc.if_else(pc.fill_null(keep, False), pc.cast(values, pa.string()),
                      pa.scalar(None, pa.string()))  # fmt: skip
    return pc.fill_null(pc.binary_join_element_wise(f',"{key}":', text, ""), "")


def _metadata(df: Any, daily: bool) -> pa.Array:
    fragments = [
        _fragment(key, _column(df, name), positive)
        for name, key, positive in _EXTRAS
        if name in df.columns and (daily or key != "adj_close")
    ]
    if not fragments:
        return pa.nulls(len(df), pa.string())
    body = pc.utf8_ltrim(pc.binary_join_element_wise(*fragments, ""), characters=",")
    wrapped = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), wrapped)


def _keys(index: Any, daily: bool) -> pa.Array:
    if daily:
        # The exchange-local wall-clock date, as 00:00 UTC of that date.
        local = index.tz_localize(None) if index.tz is not None else index
        values = local.normalize().as_unit("us").asi8
    else:
        utc = index.tz_convert("UTC") if index.tz is not None else index
        values = utc.as_unit("us").asi8
    return pc.cast(pa.array(values, pa.int64()), UTC_US)


def empty_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=SCHEMA)


def frame_to_batch(df: Any, *, daily: bool, start_us: int, end_us: int) -> pa.RecordBatch:
    """The bars of a yfinance `history()` frame in [start, end) as one sorted record batch."""
    if df is None or len(df) == 0:
        return empty_batch()
    ts = _keys(df.index, daily)
    prices = [_column(df, name) for name in ("Open", "High", "Low", "Close")]
    if "Volume" in df.columns:
        volume = _column(df, "Volume")
        volume = pc.if_else(pc.is_finite(volume), volume, 0.0)
    else:
        volume = pa.array([0.0] * len(df), F64)
    table = pa.table([ts, *prices, volume, _metadata(df, daily)], schema=SCHEMA)
    ts_us = pc.cast(ts, pa.int64())
    keep = pc.and_(pc.greater_equal(ts_us, start_us), pc.less(ts_us, end_us))
    for price in prices:
        keep = pc.and_(keep, pc.is_finite(price))
    table = table.filter(pc.fill_null(keep, False)).sort_by("timestamp")
    if table.num_rows == 0:
        return empty_batch()
    return table.combine_chunks().to_batches()[0]
