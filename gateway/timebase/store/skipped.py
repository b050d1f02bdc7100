"""Which ranges of each series had invalid bars skipped when they were fetched.

Coverage records a fetched range as fetched even when some of its bars were invalid and skipped:
the range has holes. This table remembers them per series and range, so every later answer that
covers one can say so (`INVALID_BARS_SKIPPED`), and forgets them when the range is fetched again
with only valid bars. Rows of one series never overlap: remembering a range first forgets what was
remembered inside it (rows overlapping it are trimmed or split, keeping their count). Like
`coverage`, these functions are blocking, take a connection, and run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from timebase.store import literals
from timebase.store.bars import SeriesKey, check_range
from timebase.store.pool import Connection


@dataclass(frozen=True)
class SkipReport:
    """Bars a provider reported skipping itself (its `INVALID_BARS_SKIPPED` warnings)."""

    count: int
    reasons: str


@dataclass(frozen=True, order=True)
class SkippedRange:
    """[start, end) of one provider's series, fetched with `count` invalid bars skipped."""

    start: datetime
    end: datetime
    provider: str
    count: int
    reasons: str


def forget(conn: Connection, key: SeriesKey, start: datetime, end: datetime) -> int:
    """Forget what was remembered inside [start, end); return the rows touched."""
    check_range(start, end)
    # The range as literals: a timestamptz parameter costs the driver three more round trips.
    lo, hi = literals.timestamptz(start), literals.timestamptz(end)
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH hit AS (
                DELETE FROM skipped_bars
                WHERE symbol = $1 AND "interval" = $2 AND provider = $3
                  AND start_ts < {hi} AND end_ts > {lo}
                RETURNING start_ts, end_ts, skipped, reasons, fetched_at
            ), kept AS (
                INSERT INTO skipped_bars
                    (symbol, "interval", provider, start_ts, end_ts, skipped, reasons, fetched_at)
                SELECT $1, $2, $3, start_ts, {lo}, skipped, reasons, fetched_at
                FROM hit WHERE start_ts < {lo}
                UNION ALL
                SELECT $1, $2, $3, {hi}, end_ts, skipped, reasons, fetched_at
                FROM hit WHERE end_ts > {hi}
            )
            SELECT count(*) FROM hit
            """,
            parameters=(key.symbol, key.interval, key.provider),
        )
        ((count,),) = cur.fetchall()
    return int(count)


def remember(
    conn: Connection, key: SeriesKey, start: datetime, end: datetime, *, count: int, reasons: str
) -> None:
    """[start, end) was just fetched with `count` bars skipped: what it holds now (nothing
    when `count` is 0)."""
    forget(conn, key, start, end)
    if count <= 0:
        return
    with conn.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO skipped_bars (symbol, "interval", provider, start_ts, end_ts, skipped, reasons)
            VALUES ($1, $2, $3, {literals.timestamptz(start)}, {literals.timestamptz(end)}, $4, $5)
            """,
            parameters=(key.symbol, key.interval, key.provider, count, reasons),
        )


def overlapping(
    conn: Connection, keys: Iterable[SeriesKey], start: datetime, end: datetime
) -> list[SkippedRange]:
    """The remembered ranges of `keys` (one symbol and interval) intersecting [start, end)."""
    check_range(start, end)
    keys = list(keys)
    if not keys:
        return []
    symbol, interval = keys[0].symbol, keys[0].interval
    providers = literals.text_array(sorted({k.provider for k in keys}))
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT start_ts, end_ts, provider, skipped, reasons FROM skipped_bars
            WHERE symbol = $1 AND "interval" = $2 AND provider = ANY({providers})
              AND start_ts < {literals.timestamptz(end)} AND end_ts > {literals.timestamptz(start)}
            ORDER BY start_ts, provider
            """,
            parameters=(symbol, interval),
        )
        return [SkippedRange(s, e, p, int(n), str(r)) for s, e, p, n, r in cur.fetchall()]


def series_ranges(conn: Connection, key: SeriesKey) -> list[SkippedRange]:
    """Every remembered range of one series (what the metadata cache keeps)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT start_ts, end_ts, provider, skipped, reasons FROM skipped_bars
            WHERE symbol = $1 AND "interval" = $2 AND provider = $3
            ORDER BY start_ts
            """,
            parameters=(key.symbol, key.interval, key.provider),
        )
        return [SkippedRange(s, e, p, int(n), str(r)) for s, e, p, n, r in cur.fetchall()]


def trim_before(conn: Connection, intervals: tuple[str, ...], cutoff: datetime) -> None:
    """Forget everything before `cutoff` for every series of `intervals` (retention)."""
    if not intervals:
        return
    in_intervals = f'"interval" = ANY({literals.text_array(intervals)})'
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH gone AS (
                DELETE FROM skipped_bars WHERE {in_intervals} AND end_ts <= $1 RETURNING 1
            )
            UPDATE skipped_bars SET start_ts = $1
            WHERE {in_intervals} AND start_ts < $1 AND end_ts > $1
            """,
            parameters=(cutoff,),
        )
