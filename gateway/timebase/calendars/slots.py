"""Where bars can be, by a calendar: open time, bar slots and session buckets.

    open_parts(cal, start, end, Interval.H1)      # [TimeRange, ...] where the market was open
    last_bars_start(cal, end, Interval.H1, 10)    # the start of the 10th last bar slot before end
    session_keys(cal, timestamps, Interval.D1)    # each bar's session-aligned bucket (or null)

Intraday bars can be where a session is open ([open, close) in UTC, minus its lunch break when
it has one: XHKG, XTKS). Daily and longer bars are
keyed at 00:00 UTC of the trading date (how providers key them), so for those the "open" part of
a day is the whole UTC day of a session. Outside what a calendar knows, time counts as open.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from timebase.calendars.model import DAY, Calendar, midnight
from timebase.sdk.intervals import Interval, IntervalClass
from timebase.store import TimeRange


def _session_ranges(
    cal: Calendar, start: datetime, end: datetime, interval: Interval
) -> list[TimeRange]:
    daily = interval.klass is not IntervalClass.INTRADAY
    out: list[TimeRange] = []
    for s in cal.sessions(start, end):
        # Intraday: the session's hours, its lunch break closed; daily: its whole UTC day.
        hours = ((midnight(s.day), midnight(s.day) + DAY),) if daily else s.parts()
        for opened, closed in hours:
            lo, hi = max(opened, start), min(closed, end)
            if lo < hi:
                if out and out[-1].end >= lo:
                    out[-1] = TimeRange(out[-1].start, max(out[-1].end, hi))
                else:
                    out.append(TimeRange(lo, hi))
    return out


def open_parts(
    cal: Calendar | None, start: datetime, end: datetime, interval: Interval
) -> list[TimeRange]:
    """The parts of [start, end) where bars of `interval` can be (all of it without a calendar)."""
    if start >= end:
        return []
    if cal is None:
        return [TimeRange(start, end)]
    known = cal.known(start, end)
    if known is None:
        return [TimeRange(start, end)]
    lo, hi = known
    parts = _session_ranges(cal, lo, hi, interval)
    if start < lo:
        parts.insert(0, TimeRange(start, lo))
    if hi < end:
        parts.append(TimeRange(hi, end))
    merged: list[TimeRange] = []
    for p in parts:
        if merged and merged[-1].end >= p.start:
            merged[-1] = TimeRange(merged[-1].start, p.end)
        else:
            merged.append(p)
    return merged


def closed_parts(
    cal: Calendar | None, start: datetime, end: datetime, interval: Interval
) -> list[TimeRange]:
    """The parts of [start, end) where the market was closed (the complement of `open_parts`)."""
    out: list[TimeRange] = []
    cursor = start
    for part in open_parts(cal, start, end, interval):
        if cursor < part.start:
            out.append(TimeRange(cursor, part.start))
        cursor = part.end
    if cursor < end:
        out.append(TimeRange(cursor, end))
    return out


def last_bars_start(
    cal: Calendar, end: datetime, interval: Interval, count: int
) -> datetime | None:
    """The start of the `count`-th last bar slot of `interval` before `end`, by the calendar's
    sessions (None when the calendar cannot say: weekly and monthly bars, or too few sessions).

    Intraday slots start at the session open and every interval after it while the session is
    open (1h bars of a 09:30 open at :30), and again at the end of a lunch break; daily slots are the trading dates (00:00 UTC).
    """
    if interval.klass is not IntervalClass.INTRADAY:
        if interval is not Interval.D1:
            return None
        sessions = cal.sessions_before(end, count)
        if len(sessions) < count:
            return None
        return midnight(sessions[0].day)
    needed = count
    batch = max(8, count)
    cursor = end
    while True:
        sessions = cal.sessions_before(cursor, batch)
        if not sessions:
            return None
        for s in reversed(sessions):
            # Slots restart after a lunch break (XHKG's afternoon 1h bars start at 13:00).
            for opened, closed in reversed(s.parts()):
                stop = min(closed, end)
                slots = 0 if stop <= opened else -(-(stop - opened) // interval.nominal)
                if slots >= needed:
                    return opened + (slots - needed) * interval.nominal
                needed -= slots
        cursor = sessions[0].open


def session_keys(cal: Calendar, timestamps: pa.Array, target: Interval) -> pa.Array:
    """Each timestamp's session-aligned bucket of `target` (1d: 00:00 UTC of the trading date;
    intraday: the session open, or the end of its lunch break for afternoon bars, plus whole
    `target` lengths); null outside every session and inside lunch breaks."""
    values = timestamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
    if len(values) == 0:
        return pa.array([], pa.timestamp("us", tz="UTC"))
    first = datetime.fromtimestamp(int(values.min()) // 1_000_000, tz=UTC)
    last = datetime.fromtimestamp(int(values.max()) // 1_000_000, tz=UTC)
    sessions = cal.sessions(first - DAY, last + DAY)
    if not sessions:
        return pa.nulls(len(values), pa.timestamp("us", tz="UTC"))
    # One row per open part of a session (two around a lunch break), with its trading date.
    parts = [(opened, closed, s.day) for s in sessions for opened, closed in s.parts()]
    opens = np.array([_us(p[0]) for p in parts], dtype=np.int64)
    closes = np.array([_us(p[1]) for p in parts], dtype=np.int64)
    days = np.array([_us(midnight(p[2])) for p in parts], dtype=np.int64)
    index = np.searchsorted(opens, values, side="right") - 1
    inside = index >= 0
    safe = np.where(inside, index, 0)
    inside &= values < closes[safe]
    if target is Interval.D1:
        keys = days[safe]
    else:
        step = int(target.nominal.total_seconds() * 1_000_000)
        keys = opens[safe] + ((values - opens[safe]) // step) * step
    return pa.array(keys, pa.int64(), mask=~inside).cast(pa.timestamp("us", tz="UTC"))


def _us(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond
