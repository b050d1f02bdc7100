"""How many bars a read will return, without reading them: exact for small results, the
planner's estimate for large ones (counting millions of rows would scan what the reader is
about to stream).

    rows = count_bars(conn, queries)                           # stored bars of the queries
    rows = count_buckets(conn, queries, Interval.H4, start, end)  # bars derived from them
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from timebase.sdk.intervals import Interval
from timebase.store import literals
from timebase.store.bars import BarQuery
from timebase.store.pool import Connection

#: Below this planner estimate the rows are counted exactly (cheap); above it the estimate is
#: the count (counting would scan the rows the reader is about to stream).
EXACT_COUNT_BELOW = 200_000


def _estimate(conn: Connection, sql: str) -> int | None:
    with conn.cursor() as cur:
        cur.execute("SELECT timebase_row_estimate($1)", parameters=(sql,))
        ((estimate,),) = cur.fetchall()
    return None if estimate is None else int(estimate)


def _scalar(conn: Connection, sql: str) -> int:
    with conn.cursor() as cur:
        cur.execute(sql)
        ((value,),) = cur.fetchall()
    return int(value)


def count_bars(conn: Connection, queries: Sequence[BarQuery]) -> int:
    """The rows of `queries` (each counted exactly below EXACT_COUNT_BELOW, else estimated)."""
    total = 0
    for query in queries:
        sql = query.sql()
        estimate = _estimate(conn, sql)
        if estimate is not None and estimate >= EXACT_COUNT_BELOW:
            total += estimate
        else:
            total += _scalar(conn, f"SELECT count(*) FROM ({sql}) AS q")
    return total


def _bucket_sql(target: Interval) -> str:
    """The start of the UTC bucket of `target` holding "timestamp" (derived_intervals' grid)."""
    if target is Interval.W1:
        return "date_trunc('week', \"timestamp\", 'UTC')"
    if target is Interval.MO1:
        return "date_trunc('month', \"timestamp\", 'UTC')"
    minutes = int(target.nominal.total_seconds() // 60)
    return (
        f"date_bin('{literals.integer(minutes)} minutes'::interval, \"timestamp\", "
        f"{literals.timestamptz(datetime.fromisoformat('1970-01-01T00:00:00+00:00'))})"
    )


def count_buckets(
    conn: Connection,
    queries: Sequence[BarQuery],
    target: Interval,
    start: datetime,
    end: datetime,
) -> int:
    """The bars of `target` that aggregating the bars of `queries` gives, in [start, end)
    (exact below EXACT_COUNT_BELOW source rows, else the source estimate scaled down)."""
    if not queries:
        return 0
    source = queries[0].interval
    estimates = [_estimate(conn, q.sql()) for q in queries]
    if all(e is not None for e in estimates):
        rows = sum(e for e in estimates if e is not None)
        if rows >= EXACT_COUNT_BELOW:
            return max(1, int(rows * source.nominal / target.nominal))
    union = " UNION ALL ".join(
        f"SELECT {_bucket_sql(target)} AS b FROM ({q.sql()}) AS q" for q in queries
    )
    return _scalar(
        conn,
        f"SELECT count(DISTINCT b) FROM ({union}) AS u "
        f"WHERE b >= {literals.timestamptz(start)} AND b < {literals.timestamptz(end)}",
    )
