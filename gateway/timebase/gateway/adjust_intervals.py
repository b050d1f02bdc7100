"""Adjusting bars of every interval but 1d (intraday, weekly, monthly, derived) from the split and
dividend events of the symbol's daily bars.

    daily = merge_daily([stored 1d bars of each provider of the answer])
    adjusted = adjust_from_daily(table, Adjust.ALL, declared, daily, Interval.H1)

Providers record events on daily bars (the bar of the ex-date). The same back-adjustment as
`timebase.gateway.adjustments` applies, with each bar placed by its end: a bar is adjusted for
an event when it ends at or before the event's daily bar starts (`end <= ex-date`), so intraday
bars of the days before the ex-date are adjusted and those of the ex-date are not, and a weekly
or monthly bar holding the ex-date is not (its close comes after it), as its daily bars' close
would not be. A split of ratio r multiplies earlier prices by 1/r and volumes by r; a dividend d
multiplies earlier prices by 1 - d / (the daily close before the ex-date). Events from the end of
the answer's last bar on are left out (anchored at the last bar, as for daily bars). Without any
stored daily bar, the bars' own recorded events are used (`adjust_bars`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from timebase.core.user_time import EARLIEST_TIME
from timebase.gateway.adjustments import (
    Adjust,
    _event_columns,
    _missing,
    adjust_bars,
)
from timebase.sdk.intervals import Interval

#: Daily bars read before an answer's start, to find the close before its first event.
DAILY_PADDING = timedelta(days=14)
_PRICES = ("open", "high", "low", "close")


def daily_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The range of daily bars whose events adjust an answer for [start, end) (never before
    the earliest time a request may name)."""
    return max(start - DAILY_PADDING, EARLIEST_TIME), end


def merge_daily(tables: Sequence[pa.Table]) -> pa.Table:
    """Daily bars of several providers as one series by time (the first of equal timestamps)."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({"timestamp": pa.array([], pa.timestamp("us", tz="UTC"))})
    merged = pa.concat_tables(tables, promote_options="default").sort_by("timestamp")
    stamps = pc.cast(merged.column("timestamp"), pa.int64()).combine_chunks()
    if len(stamps) > 1:
        repeated = pc.equal(stamps.slice(1), stamps.slice(0, len(stamps) - 1))
        keep = pa.concat_arrays([pa.array([True]), pc.invert(repeated)])
        merged = merged.filter(keep)
    return merged


def _next_month(us: int) -> int:
    ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    year, month = (ts.year + 1, 1) if ts.month == 12 else (ts.year, ts.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1_000_000


def bar_ends(table: pa.Table, interval: Interval) -> pa.Array:
    """Each bar's end (µs since the epoch): its start plus the interval (months: the next
    month's first day)."""
    starts = pc.cast(table.column("timestamp"), pa.int64()).combine_chunks()
    if interval is Interval.MO1:
        return pa.array([_next_month(us) for us in starts.to_pylist()], pa.int64())
    step = int(interval.nominal.total_seconds() * 1_000_000)
    return pc.add(starts, step)


def _events(daily: pa.Table, wanted: frozenset[str]) -> list[tuple[int, float, float, str]]:
    """(ex-date µs, price factor, volume factor, kind) of the daily bars' events."""
    split, dividend = _event_columns(daily)
    stamps = pc.cast(daily.column("timestamp"), pa.int64()).to_pylist()
    closes = daily.column("close").to_pylist()
    events: list[tuple[int, float, float, str]] = []
    for i, (ratio, paid) in enumerate(zip(split.to_pylist(), dividend.to_pylist(), strict=True)):
        if "splits" in wanted and ratio != 1.0:
            events.append((stamps[i], 1.0 / ratio, ratio, "splits"))
        if "dividends" in wanted and paid > 0 and i > 0 and closes[i - 1]:
            events.append((stamps[i], 1.0 - paid / closes[i - 1], 1.0, "dividends"))
    return events


def adjust_from_daily(
    table: pa.Table,
    mode: Adjust,
    declared: Mapping[str, frozenset[str]],
    daily: pa.Table,
    interval: Interval,
) -> pa.Table:
    """`table` (bars of `interval` by time) adjusted for `mode` from the events of `daily`,
    skipping what each row's provider declares its prices already include."""
    wanted = mode.kinds
    if not wanted or table.num_rows == 0:
        return table
    if daily.num_rows == 0 or "close" not in daily.column_names:
        return adjust_bars(table, mode, declared)
    ends = bar_ends(table, interval)
    last_end = pc.max(ends).as_py()
    providers = table.column("provider").combine_chunks()
    price = pa.array([1.0] * table.num_rows, pa.float64())
    volume = price
    for at, price_factor, volume_factor, kind in _events(daily, wanted):
        if at >= last_end:
            continue  # after the answer: anchored at its last bar
        mask = pc.and_(pc.less_equal(ends, at), _missing(providers, declared, kind))
        price = pc.if_else(mask, pc.multiply(price, price_factor), price)
        volume = pc.if_else(mask, pc.multiply(volume, volume_factor), volume)
    columns = {name: table.column(name) for name in table.column_names}
    for name in _PRICES:
        columns[name] = pc.multiply(table.column(name), price)
    columns["volume"] = pc.multiply(table.column("volume"), volume)
    return pa.table(columns, schema=table.schema)
