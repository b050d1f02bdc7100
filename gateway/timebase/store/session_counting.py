"""How many session-aligned bars aggregating stored bars gives, without reading them (Flight's
`total_records` for a derived plan that follows a trading calendar, docs/calendars.md).

    rows = count_session_buckets(conn, queries, parts_between, daily=True, step_us=0,
                                 start=start, end=end)

The store knows no calendar: `parts_between(first, last)` gives the open parts of the sessions
around the stored bars as (open, close, trading date midnight) in microseconds since the epoch
(two per session around a lunch break). A bar counts in the part holding it; its bucket is the
part's trading date (daily) or the part's open plus whole steps (intraday), as
`timebase.calendars.slots.session_keys` keys them when the bars are aggregated. Exact below
`counting.EXACT_COUNT_BELOW` source rows (the planner's estimate); above, the calendar's bar
slots between the first and the last stored bar are the estimate (counting would scan the
rows the reader is about to stream).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from timebase.store import literals
from timebase.store.bars import BarQuery
from timebase.store.counting import EXACT_COUNT_BELOW, _estimate, _scalar
from timebase.store.pool import Connection

#: (open, close, trading date's 00:00 UTC), microseconds since the epoch.
Part = tuple[int, int, int]
PartsBetween = Callable[[datetime, datetime], Sequence[Part]]

_US = '(extract(epoch FROM "timestamp") * 1000000)::bigint'


def _span(conn: Connection, union: str) -> tuple[datetime, datetime] | None:
    with conn.cursor() as cur:
        cur.execute(f'SELECT min("timestamp"), max("timestamp") FROM ({union}) AS u')
        ((first, last),) = cur.fetchall()
    return None if first is None else (first, last)


def _array(values: Sequence[int]) -> str:
    return "ARRAY[" + ",".join(str(int(v)) for v in values) + "]::bigint[]"


def _slots(parts: Sequence[Part], daily: bool, step_us: int, lo: int, hi: int) -> int:
    """The buckets the parts hold whose start is in [lo, hi) (the estimate for large reads)."""
    if daily:
        return len({day for _, _, day in parts if lo <= day < hi})
    total = 0
    for opened, closed, _ in parts:
        total += sum(1 for key in range(opened, closed, step_us) if lo <= key < hi)
    return total


def count_session_buckets(
    conn: Connection,
    queries: Sequence[BarQuery],
    parts_between: PartsBetween,
    *,
    daily: bool,
    step_us: int,
    start: datetime,
    end: datetime,
) -> int:
    """The session-aligned buckets in [start, end) that the bars of `queries` fill."""
    if not queries:
        return 0
    union = " UNION ALL ".join(f'SELECT "timestamp" FROM ({q.sql()}) AS q' for q in queries)
    span = _span(conn, union)
    if span is None:
        return 0
    parts = parts_between(span[0], span[1])
    if not parts:
        return 0
    lo, hi = _micros(start), _micros(end)
    estimates = [_estimate(conn, q.sql()) for q in queries]
    if all(e is not None for e in estimates):
        rows = sum(e for e in estimates if e is not None)
        if rows >= EXACT_COUNT_BELOW:
            return _slots(parts, daily, step_us, lo, hi)
    opens = _array([p[0] for p in parts])
    closes = _array([p[1] for p in parts])
    days = _array([p[2] for p in parts])
    step = literals.integer(step_us)
    key = "p.d" if daily else f"p.o + ((u.t - p.o) / {step}) * {step}"
    return _scalar(
        conn,
        f"SELECT count(DISTINCT k) FROM ("
        f"SELECT {key} AS k FROM (SELECT {_US} AS t FROM ({union}) AS s) AS u "
        f"JOIN unnest({opens}, {closes}, {days}) AS p(o, c, d) ON u.t >= p.o AND u.t < p.c"
        f") AS b WHERE k >= {lo} AND k < {hi}",
    )


def _micros(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond
