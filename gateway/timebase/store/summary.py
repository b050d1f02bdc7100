"""What is stored for one symbol: each series (interval, provider) with its bar count, first and
last bar start, and the ranges recorded as fetched (`coverage`), in one query.

    series = symbol_summary(conn, "AAPL")     # [SeriesSummary, ...] by interval, then provider

A series appears when it has bars, coverage, or both: ranges fetched that held no bars (a
holiday, a symbol not yet listed) have coverage but count 0; imported bars have a count but no
coverage. Blocking, like the rest of the store: it takes a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timebase.store.bars import normalize_symbol
from timebase.store.coverage import TimeRange
from timebase.store.pool import Connection


@dataclass(frozen=True)
class SeriesSummary:
    """One stored series of a symbol."""

    interval: str
    provider: str
    count: int
    #: First and last bar start (None when only coverage is recorded).
    earliest: datetime | None
    latest: datetime | None
    #: The ranges fetched from the provider, in order (empty for imported bars).
    covered: tuple[TimeRange, ...]


# One statement: the bars grouped per series, full-outer-joined with the coverage ranges
# aggregated per series (ordered arrays of starts and ends).
_SUMMARY = """
WITH stored AS (
    SELECT "interval", provider, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts
    FROM bars WHERE symbol = $1
    GROUP BY "interval", provider
), fetched AS (
    SELECT "interval", provider,
           array_agg(start_ts ORDER BY start_ts) AS starts,
           array_agg(end_ts ORDER BY start_ts) AS ends
    FROM coverage WHERE symbol = $1
    GROUP BY "interval", provider
)
SELECT COALESCE(s."interval", f."interval"), COALESCE(s.provider, f.provider),
       COALESCE(s.n, 0), s.first_ts, s.last_ts, f.starts, f.ends
FROM stored AS s FULL OUTER JOIN fetched AS f
  ON s."interval" = f."interval" AND s.provider = f.provider
"""


def symbol_summary(conn: Connection, symbol: str) -> list[SeriesSummary]:
    """Every stored series of `symbol` (see the module docstring), unordered."""
    with conn.cursor() as cur:
        cur.execute(_SUMMARY, parameters=(normalize_symbol(symbol),))
        rows = cur.fetchall()
    return [
        SeriesSummary(
            interval=str(interval),
            provider=str(provider),
            count=int(count),
            earliest=first,
            latest=last,
            covered=tuple(TimeRange(s, e) for s, e in zip(starts or (), ends or (), strict=True)),
        )
        for interval, provider, count, first, last, starts, ends in rows
    ]
