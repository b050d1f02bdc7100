"""Bars of a coarser interval built from a finer one (when no provider serves it natively).

    1h → 4h     1d → 1wk     1d → 1mo     1m → 5m / 15m / 30m     1h → 1d (with a calendar)

Without a trading calendar, buckets are on the UTC grid: intraday buckets start at multiples of
their length since midnight UTC (4h: 00:00, 04:00, … 20:00), weeks start on Monday 00:00 UTC,
months on the 1st 00:00 UTC. With one (docs/calendars.md), intraday and daily buckets follow its
sessions (`timebase.calendars.slots.session_keys`): a daily bar covers one trading day (keyed at
00:00 UTC of its date), 4h bars start at the session open (XNYS: 09:30 and 13:30 New York), and
bars outside every session (pre- and post-market) are left out. Weeks and months stay on the
UTC grid (daily bars are keyed at their trading date's midnight, so they fall in the right one).
A bucket's bar is open = first open, high = max, low = min, close = last close, volume = sum,
keyed at the bucket's start and marked in metadata with ``{"derived_from": "<finer interval>"}``.
The aggregation is vectorised (pyarrow compute and group_by), never a Python loop over bars.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from timebase.calendars.model import Calendar
from timebase.calendars.slots import session_keys
from timebase.sdk.intervals import Interval, IntervalClass
from timebase.sdk.manifest import Manifest
from timebase.store import BAR_SCHEMA

#: Derivable only along a trading calendar's sessions (a UTC day of an equity is not a day).
SESSION_DERIVED_FROM: dict[Interval, Interval] = {Interval.D1: Interval.H1}

#: The finer interval each derivable interval is built from.
DERIVED_FROM: dict[Interval, Interval] = {
    Interval.H4: Interval.H1,
    Interval.W1: Interval.D1,
    Interval.MO1: Interval.D1,
    Interval.M5: Interval.M1,
    Interval.M15: Interval.M1,
    Interval.M30: Interval.M1,
}


def derivable_from(manifest: Manifest, symbol: str, interval: Interval) -> Interval | None:
    """The finer interval `interval` can be built from for `symbol` at a provider of `manifest`:
    `DERIVED_FROM`, and 1d from 1h when the manifest names the symbol's calendar."""
    base = DERIVED_FROM.get(interval)
    if base is None and manifest.calendar_for(symbol) is not None:
        base = SESSION_DERIVED_FROM.get(interval)
    return base


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)


def _floor_args(interval: Interval) -> tuple[int, str, dict[str, bool]]:
    if interval is Interval.W1:
        return 1, "week", {"week_starts_monday": True}
    if interval is Interval.MO1:
        return 1, "month", {}
    minutes = int(interval.nominal.total_seconds() // 60)
    return minutes, "minute", {}


def bucket_start(ts: datetime, interval: Interval) -> datetime:
    """The start of the bucket of `interval` holding `ts` (UTC grid)."""
    ts = ts.astimezone(UTC)
    if interval is Interval.MO1:
        return ts.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if interval is Interval.W1:
        weeks = (ts - _MONDAY) // timedelta(weeks=1)
        return _MONDAY + timedelta(weeks=weeks)
    return _EPOCH + ((ts - _EPOCH) // interval.nominal) * interval.nominal


def next_bucket(start: datetime, interval: Interval) -> datetime:
    if interval is Interval.MO1:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month, day=1)
    return start + interval.nominal


def bucket_ceil(ts: datetime, interval: Interval) -> datetime:
    """The first bucket start at or after `ts`."""
    start = bucket_start(ts, interval)
    return start if start == ts else next_bucket(start, interval)


def session_aligned(target: Interval, cal: Calendar | None) -> bool:
    """Whether bars of `target` derived under `cal` follow its sessions (else the UTC grid)."""
    return cal is not None and (target.klass is IntervalClass.INTRADAY or target is Interval.D1)


def derive(
    table: pa.Table,
    target: Interval,
    base: Interval,
    start: datetime,
    end: datetime,
    *,
    cal: Calendar | None = None,
) -> pa.Table:
    """`aggregate`, keeping the buckets that start in [start, end)."""
    derived = aggregate(table, target, base, cal)
    ts = derived.column("timestamp")
    mask = pc.and_(
        pc.greater_equal(ts, pa.scalar(start, ts.type)),
        pc.less(ts, pa.scalar(end, ts.type)),
    )
    return derived.filter(mask)


def aggregate(
    table: pa.Table, target: Interval, base: Interval, cal: Calendar | None = None
) -> pa.Table:
    """`table` (bars of `base`, ascending, one symbol) aggregated into bars of `target` (along
    `cal`'s sessions when `session_aligned`)."""
    if table.num_rows == 0:
        return BAR_SCHEMA.empty_table()
    if cal is not None and session_aligned(target, cal):
        buckets = session_keys(cal, table.column("timestamp").combine_chunks(), target)
        table = table.filter(pc.is_valid(buckets))
        buckets = buckets.drop_null()
        if table.num_rows == 0:
            return BAR_SCHEMA.empty_table()
    else:
        multiple, unit, options = _floor_args(target)
        buckets = pc.floor_temporal(table.column("timestamp"), multiple, unit, **options)
    grouped = (
        table.append_column("_bucket", buckets)
        .group_by(["_bucket"], use_threads=False)
        .aggregate(
            [
                ("symbol", "first"),
                ("provider", "first"),
                ("open", "first"),
                ("high", "max"),
                ("low", "min"),
                ("close", "last"),
                ("volume", "sum"),
            ]
        )
        .sort_by("_bucket")
    )
    n = grouped.num_rows
    marker = json.dumps({"derived_from": base.value}, separators=(",", ":"))
    return pa.Table.from_arrays(
        [
            grouped.column("symbol_first"),
            grouped.column("_bucket").cast(pa.timestamp("us", tz="UTC")),
            grouped.column("open_first"),
            grouped.column("high_max"),
            grouped.column("low_min"),
            grouped.column("close_last"),
            grouped.column("volume_sum"),
            pa.repeat(pa.scalar(target.value, pa.string()), n),
            grouped.column("provider_first"),
            pa.repeat(pa.scalar(marker, pa.string()), n),
        ],
        schema=BAR_SCHEMA,
    )
