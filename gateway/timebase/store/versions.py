"""Per-series versions: every write of a series' bars, coverage or skipped ranges bumps its version
in the same transaction (sql/0013_series_versions.sql).

    with_write(conn): ...; bump_series_versions(conn, [SeriesKey("AAPL", "1d", "yahoo-finance")])
    current = series_versions(conn, "AAPL", ["1d"])        # {SeriesKey: version}, one lookup

Versions come from one sequence, so a version seen once is never seen again for a different state
of its series. A series that was never written has no row (version 0 to readers). A copy of a
series (the hot tier, the metadata cache) taken after reading version v is current while the
version is still v: read the version *before* the data, never after.

Like `bars`, these functions are blocking, take a connection and run in the caller's transaction.
Every write path calls `bump_series_versions` (or `bump_intervals` for retention) inside the
transaction of its write, so the new version commits, or rolls back, with the write.
"""

from __future__ import annotations

from collections.abc import Iterable

from timebase.store import literals
from timebase.store.bars import SeriesKey
from timebase.store.pool import Connection

#: The version of a series that has no row (never written since the table exists).
NO_VERSION = 0


def bump_series_versions(conn: Connection, keys: Iterable[SeriesKey]) -> None:
    """Give each series of `keys` a new version (caller's transaction; keys locked in order)."""
    arrays = _key_arrays(keys)
    if arrays is None:
        return
    with conn.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO series_versions AS v (symbol, "interval", provider)
            SELECT * FROM unnest({arrays})
            ON CONFLICT (symbol, "interval", provider) DO UPDATE
                SET version = nextval('series_version_seq'), changed_at = now()
            """
        )


def bump_intervals(conn: Connection, intervals: Iterable[str]) -> int:
    """A new version for every series of `intervals` (retention); return how many."""
    names = sorted(set(intervals))
    if not names:
        return 0
    with conn.cursor() as cur:
        cur.execute(
            f"""
            UPDATE series_versions
            SET version = nextval('series_version_seq'), changed_at = now()
            WHERE "interval" = ANY({literals.text_array(names)})
            """
        )
        return max(int(cur.rowcount), 0)


#: The columns of a version lookup (`series_versions`, and `version_reader`'s prepared form).
SELECT_VERSIONS = 'SELECT symbol, "interval", provider, version FROM series_versions'


def series_versions(
    conn: Connection,
    symbol: str,
    intervals: Iterable[str],
    providers: Iterable[str] | None = None,
) -> dict[SeriesKey, int]:
    """The current version of each stored series of `symbol` at `intervals` (of `providers`,
    default any): one indexed lookup. Series without a row are absent (version `NO_VERSION`)."""
    where = [
        f"symbol = {literals.text(symbol)}",
        f'"interval" = ANY({literals.text_array(sorted(set(intervals)))})',
    ]
    if providers is not None:
        where.append(f"provider = ANY({literals.text_array(sorted(set(providers)))})")
    with conn.cursor() as cur:
        cur.execute(f"{SELECT_VERSIONS} WHERE " + " AND ".join(where))
        rows = cur.fetchall()
    return {SeriesKey(s, i, p): int(v) for s, i, p, v in rows}


def versions_of(conn: Connection, keys: Iterable[SeriesKey]) -> dict[SeriesKey, int]:
    """The current version of each series of `keys` that has one: one indexed lookup."""
    arrays = _key_arrays(keys)
    if arrays is None:
        return {}
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT v.symbol, v."interval", v.provider, v.version
            FROM unnest({arrays}) AS k(symbol, "interval", provider)
            JOIN series_versions v USING (symbol, "interval", provider)
            """
        )
        rows = cur.fetchall()
    return {SeriesKey(s, i, p): int(v) for s, i, p, v in rows}


def _key_arrays(keys: Iterable[SeriesKey]) -> str | None:
    """The distinct `keys` (sorted: rows are locked in one order) as three SQL text arrays,
    `symbols, intervals, providers`, for `unnest`; None when there are none."""
    unique = sorted(set(keys))
    if not unique:
        return None
    return ", ".join(
        literals.text_array(getattr(k, part) for k in unique)
        for part in ("symbol", "interval", "provider")
    )
