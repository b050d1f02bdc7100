"""TimescaleDB, when the database has it: detected at start, set up idempotently.

Layout choice: bars live in two tables, `bars_intraday` and `bars_daily` (see sql/0001_bars.sql),
and each becomes its own hypertable on `ts`. TimescaleDB retention works by dropping whole chunks,
and a chunk holds every row of its time slice; with one hypertable for all intervals, dropping a
year-old intraday chunk would drop the daily bars of those days too. One hypertable per interval
class lets the retention job drop intraday chunks while daily bars stay forever.

When present:
- hypertables: `bars_intraday` (7-day chunks), `bars_daily` (1-year chunks), existing rows moved;
- compression: segment by symbol, interval, provider; order by ts; chunks older than 7 days;
- continuous aggregate `bars_daily_agg`: daily OHLCV (first/max/min/last/sum) of the intraday
  bars per series, refreshed hourly over the last 3 days;
- retention: the store's retention job calls `drop_chunks` (then deletes the rows left in the
  boundary chunk and trims the coverage table in the same transaction). `add_retention_policy`
  is not used: a background policy would drop bars without trimming coverage, and a dropped range
  would be served as a silent hole.

When absent, one info line says these are off; plain tables serve the same queries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import adbc_driver_manager
from adbc_driver_postgresql import dbapi

from timebase.store.migrations import MIGRATION_LOCK
from timebase.store.pool import Connection, ConnectionPool, database_error

_log = logging.getLogger(__name__)

FEATURES = (
    "hypertables",
    "compression",
    "continuous aggregate bars_daily_agg",
    "chunk-dropping retention",
)

#: (table, chunk interval)
HYPERTABLES = (("bars_intraday", "7 days"), ("bars_daily", "365 days"))

COMPRESS_AFTER = "7 days"

SETUP_STATEMENTS: tuple[str, ...] = (
    *(
        f"""SELECT create_hypertable('{table}', by_range('ts', INTERVAL '{chunk}'),
                create_default_indexes => FALSE, if_not_exists => TRUE, migrate_data => TRUE)"""
        for table, chunk in HYPERTABLES
    ),
    *(
        f"""ALTER TABLE {table} SET (
                timescaledb.compress,
                timescaledb.compress_segmentby = 'symbol, "interval", provider',
                timescaledb.compress_orderby = 'ts DESC')"""
        for table, _ in HYPERTABLES
    ),
    *(
        f"""SELECT add_compression_policy('{table}', compress_after => INTERVAL '{COMPRESS_AFTER}',
                if_not_exists => TRUE)"""
        for table, _ in HYPERTABLES
    ),
    # Continuous aggregates cannot be created inside a transaction: these run in autocommit.
    """CREATE MATERIALIZED VIEW IF NOT EXISTS bars_daily_agg
            WITH (timescaledb.continuous) AS
        SELECT symbol, "interval" AS source_interval, provider,
               time_bucket(INTERVAL '1 day', ts) AS day,
               first(open, ts) AS open, max(high) AS high, min(low) AS low,
               last(close, ts) AS close, sum(volume) AS volume, count(*) AS bars
        FROM bars_intraday
        GROUP BY symbol, "interval", provider, time_bucket(INTERVAL '1 day', ts)
        WITH NO DATA""",
    """SELECT add_continuous_aggregate_policy('bars_daily_agg',
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)""",
)


@dataclass(frozen=True)
class TimescaleStatus:
    """Whether TimescaleDB features are on, its version, and why they are off otherwise."""

    enabled: bool
    version: str | None = None
    reason: str | None = None


def _installed_version(cur: dbapi.Cursor) -> str | None:
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    rows = cur.fetchall()
    return str(rows[0][0]) if rows else None


def detect_and_install(conn: Connection) -> TimescaleStatus:
    """Find TimescaleDB (installing the extension if the server offers it)."""
    with conn.cursor() as cur:
        version = _installed_version(cur)
        if version is not None:
            return TimescaleStatus(True, version)
        cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        if not cur.fetchall():
            return TimescaleStatus(False, reason="the extension is not available on the server")
        conn.commit()
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.commit()
        except adbc_driver_manager.Error as exc:
            conn.rollback()
            reason = database_error(exc, "CREATE EXTENSION timescaledb failed").message
            return TimescaleStatus(False, reason=reason)
        version = _installed_version(cur)
    return TimescaleStatus(version is not None, version)


def set_up(url: str) -> None:
    """Create the hypertables, compression, continuous aggregate and policies (idempotent).

    Uses its own autocommit connection (continuous aggregates refuse transactions) and holds the
    migration lock, so two processes starting at once do this one after the other.
    """
    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        cur.fetchall()
        try:
            cur.execute(
                "SELECT hypertable_name, compression_enabled "
                "FROM timescaledb_information.hypertables"
            )
            compressed = {str(name) for name, on in cur.fetchall() if on}
            for statement in SETUP_STATEMENTS:
                if "timescaledb.compress," in statement and any(
                    f"ALTER TABLE {table} " in statement for table in compressed
                ):
                    continue  # already compressed: re-setting the options would fail
                cur.execute(statement)
                if cur.description is not None:
                    cur.fetchall()
        finally:
            cur.execute(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            cur.fetchall()


async def start_timescale(pool: ConnectionPool) -> TimescaleStatus:
    """Detect TimescaleDB and set it up; log one line saying which features are on or off."""
    async with pool.connection() as conn:
        status = await conn.run(detect_and_install, doing="detecting TimescaleDB")
        if status.enabled:
            await conn.call(_set_up_or_raise, pool.url)
    if status.enabled:
        _log.info(
            "TimescaleDB %s: %s on",
            status.version,
            ", ".join(FEATURES),
            extra={"timescaledb": status.version},
        )
    else:
        _log.info(
            "TimescaleDB not in use (%s): %s off; plain PostgreSQL tables serve the same queries",
            status.reason,
            ", ".join(FEATURES),
        )
    return status


def _set_up_or_raise(url: str) -> None:
    try:
        set_up(url)
    except adbc_driver_manager.Error as exc:
        raise database_error(exc, "setting up TimescaleDB") from exc


def drop_chunks_before(conn: Connection, table: str, cutoff_sql: str) -> int:
    """Drop the chunks of hypertable `table` entirely older than `cutoff_sql`; return how many."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM drop_chunks('{table}', older_than => {cutoff_sql})")
        ((count,),) = cur.fetchall()
    return int(count)
