"""Which half-open ranges [start, end) of each series have been fetched from its provider.

Rows of one series never overlap or touch: recording a range merges it with every range it
overlaps or is adjacent to. A transaction-scoped advisory lock per series serialises concurrent
writers of the same series. Like `bars`, these functions are blocking and take a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timebase.store import literals
from timebase.store.bars import SeriesKey, check_range
from timebase.store.pool import Connection


@dataclass(frozen=True, order=True)
class TimeRange:
    """A half-open range [start, end)."""

    start: datetime
    end: datetime


_LOCK_SERIES = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '|' || $2::text || '|' || $3::text, 0))"


def _lock(conn: Connection, key: SeriesKey) -> None:
    with conn.cursor() as cur:
        cur.execute(_LOCK_SERIES, parameters=(key.symbol, key.interval, key.provider))
        cur.fetchall()


def record_range(conn: Connection, key: SeriesKey, start: datetime, end: datetime) -> TimeRange:
    """Record [start, end) as fetched; return the merged range now containing it."""
    check_range(start, end)
    _lock(conn, key)
    # The range as literals: a timestamptz parameter costs the driver three more round trips
    # (it reads, sets and restores the session's time zone around the statement).
    lo, hi = literals.timestamptz(start), literals.timestamptz(end)
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH merged AS (
                DELETE FROM coverage
                WHERE symbol = $1 AND "interval" = $2 AND provider = $3
                  AND start_ts <= {hi} AND end_ts >= {lo}
                RETURNING start_ts, end_ts
            )
            INSERT INTO coverage (symbol, "interval", provider, start_ts, end_ts)
            SELECT $1, $2, $3, LEAST({lo}, min(start_ts)), GREATEST({hi}, max(end_ts))
            FROM merged
            RETURNING start_ts, end_ts
            """,
            parameters=(key.symbol, key.interval, key.provider),
        )
        ((merged_start, merged_end),) = cur.fetchall()
    return TimeRange(merged_start, merged_end)


def covered_ranges(
    conn: Connection, key: SeriesKey, start: datetime, end: datetime
) -> list[TimeRange]:
    """The recorded ranges intersecting [start, end), clipped to it, in order."""
    check_range(start, end)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT GREATEST(start_ts, $4), LEAST(end_ts, $5) FROM coverage
            WHERE symbol = $1 AND "interval" = $2 AND provider = $3
              AND start_ts < $5 AND end_ts > $4
            ORDER BY start_ts
            """,
            parameters=(key.symbol, key.interval, key.provider, start, end),
        )
        return [TimeRange(s, e) for s, e in cur.fetchall()]


def gaps(covered: list[TimeRange], start: datetime, end: datetime) -> list[TimeRange]:
    """The parts of [start, end) not in `covered` (sorted, clipped, non-overlapping ranges)."""
    missing: list[TimeRange] = []
    cursor = start
    for piece in covered:
        if piece.start > cursor:
            missing.append(TimeRange(cursor, min(piece.start, end)))
        cursor = max(cursor, piece.end)
        if cursor >= end:
            break
    if cursor < end:
        missing.append(TimeRange(cursor, end))
    return missing


def missing_ranges(
    conn: Connection, key: SeriesKey, start: datetime, end: datetime
) -> list[TimeRange]:
    """The sub-ranges of [start, end) never fetched for this series: what to fetch next."""
    return gaps(covered_ranges(conn, key, start, end), start, end)


def remove_range(conn: Connection, key: SeriesKey, start: datetime, end: datetime) -> int:
    """Forget [start, end) of one series (ranges overlapping it are trimmed or split).

    Returns the number of recorded ranges that were touched.
    """
    check_range(start, end)
    _lock(conn, key)
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH hit AS (
                DELETE FROM coverage
                WHERE symbol = $1 AND "interval" = $2 AND provider = $3
                  AND start_ts < $5 AND end_ts > $4
                RETURNING start_ts, end_ts, fetched_at
            ), kept AS (
                INSERT INTO coverage (symbol, "interval", provider, start_ts, end_ts, fetched_at)
                SELECT $1, $2, $3, start_ts, $4, fetched_at FROM hit WHERE start_ts < $4
                UNION ALL
                SELECT $1, $2, $3, $5, end_ts, fetched_at FROM hit WHERE end_ts > $5
            )
            SELECT count(*) FROM hit
            """,
            parameters=(key.symbol, key.interval, key.provider, start, end),
        )
        ((count,),) = cur.fetchall()
    return int(count)


def trim_before(conn: Connection, intervals: tuple[str, ...], cutoff: datetime) -> int:
    """Forget everything before `cutoff` for every series of `intervals` (retention).

    Returns the number of recorded ranges deleted or shortened.
    """
    if not intervals:
        return 0
    in_intervals = f'"interval" = ANY({literals.text_array(intervals)})'
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH gone AS (
                DELETE FROM coverage WHERE {in_intervals} AND end_ts <= $1
                RETURNING 1
            ), cut AS (
                UPDATE coverage SET start_ts = $1
                WHERE {in_intervals} AND start_ts < $1 AND end_ts > $1
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM cut)
            """,
            parameters=(cutoff,),
        )
        ((count,),) = cur.fetchall()
    return int(count)


def series_ranges(conn: Connection, key: SeriesKey) -> list[TimeRange]:
    """Every recorded range of one series, in order (what the metadata cache keeps)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT start_ts, end_ts FROM coverage
            WHERE symbol = $1 AND "interval" = $2 AND provider = $3
            ORDER BY start_ts
            """,
            parameters=(key.symbol, key.interval, key.provider),
        )
        return [TimeRange(s, e) for s, e in cur.fetchall()]


def clip(ranges: list[TimeRange], start: datetime, end: datetime) -> list[TimeRange]:
    """`ranges` intersecting [start, end), clipped to it (what `covered_ranges` reads)."""
    return [
        TimeRange(max(r.start, start), min(r.end, end))
        for r in ranges
        if r.start < end and r.end > start
    ]
