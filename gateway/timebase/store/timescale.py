"""TimescaleDB, when the database has it: detected at start, set up idempotently.

Layout choice: bars live in two tables, `bars_intraday` and `bars_daily` (see sql/0001_bars.sql),
and each becomes its own hypertable on `ts`. TimescaleDB retention works by dropping whole chunks,
and a chunk holds every row of its time slice; with one hypertable for all intervals, dropping a
year-old intraday chunk would drop the daily bars of those days too. One hypertable per interval
class lets the retention job drop intraday chunks while daily bars stay forever.

When present (docs/timescaledb.md has the measurements behind each number):
- hypertables: `bars_intraday` (7-day chunks), `bars_daily` (1-year chunks), existing rows moved;
- compression: segment by symbol, interval, provider; order by ts; chunks older than 7 days
  (a late correction into a compressed chunk is an ordinary upsert);
- retention: the store's retention job drops whole chunks past the cutoff (`drop_chunks`), deletes
  the rows left in the chunk straddling it and trims the coverage table in the same transaction,
  having locked the chunks against the compression policy first (`lock_against_compression`).
  `add_retention_policy` is not used: a background policy would drop bars without trimming
  coverage, and a dropped range would be served as a silent hole.

No continuous aggregate: nothing would read it (derived intervals are built by the gateway from
the stored bars, identically on both backends); one left by an earlier version is dropped.

When TimescaleDB is not usable, TimeBase starts on plain tables (which serve the same queries) and
logs one line saying which features are off, why, and how to enable them: the extension not
installed, installed but not preloaded (read from the server's settings when the role may; else
`CREATE EXTENSION` tells, with a FATAL error that closes its connection: it runs on a connection of
its own), a role that may not create it, or a version older than `MIN_VERSION`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import adbc_driver_manager

from timebase.sdk.errors import DatabaseError
from timebase.store import adbc
from timebase.store.migrations import MIGRATION_LOCK
from timebase.store.pool import Connection, ConnectionPool, database_error, sqlstate

_log = logging.getLogger(__name__)

FEATURES = ("hypertables", "compression", "chunk-dropping retention")

#: The oldest TimescaleDB whose API the set-up uses (`by_range` dimension builders: 2.13).
MIN_VERSION = (2, 13)

#: (table, chunk interval): see docs/timescaledb.md for the sizes behind them.
HYPERTABLES = (("bars_intraday", "7 days"), ("bars_daily", "365 days"))

#: Compression settings chosen by measurement (docs/timescaledb.md).
SEGMENT_BY = 'symbol, "interval", provider'
ORDER_BY = "ts"
COMPRESS_AFTER = "7 days"

SETUP_STATEMENTS: tuple[str, ...] = (
    # create_hypertable returns a composite record, which ADBC cannot decode: select its fields.
    *(
        f"""SELECT hypertable_id, created FROM create_hypertable('{table}',
                by_range('ts', INTERVAL '{chunk}'),
                create_default_indexes => FALSE, if_not_exists => TRUE, migrate_data => TRUE)"""
        for table, chunk in HYPERTABLES
    ),
    *(
        f"""ALTER TABLE {table} SET (
                timescaledb.compress,
                timescaledb.compress_segmentby = '{SEGMENT_BY}',
                timescaledb.compress_orderby = '{ORDER_BY}')"""
        for table, _ in HYPERTABLES
    ),
    *(
        f"""SELECT add_compression_policy('{table}', compress_after => INTERVAL '{COMPRESS_AFTER}',
                if_not_exists => TRUE)"""
        for table, _ in HYPERTABLES
    ),
    "DROP MATERIALIZED VIEW IF EXISTS bars_daily_agg",
)

_PRELOAD_HINT = (
    "add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL "
    "(the embedded server: database.embedded_timescaledb: on)"
)


@dataclass(frozen=True)
class TimescaleStatus:
    """Whether TimescaleDB features are on, its version, and why they are off otherwise."""

    enabled: bool
    version: str | None = None
    reason: str | None = None
    #: How to turn the features on (None when they are on, or nothing on our side would help).
    hint: str | None = None


_NOT_PRELOADED = TimescaleStatus(
    False, reason="the extension is installed but not preloaded", hint=_PRELOAD_HINT
)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _installed_version(cur: adbc.Cursor) -> str | None:
    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    rows = cur.fetchall()
    return str(rows[0][0]) if rows else None


def _preloaded(cur: adbc.Cursor) -> bool:
    """False when the server's settings show TimescaleDB is not preloaded (readable by
    superusers and pg_read_all_settings only); True when preloaded or unknown."""
    cur.execute(
        "SELECT CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
        "OR pg_has_role('pg_read_all_settings', 'MEMBER') "
        "THEN current_setting('shared_preload_libraries') END"
    )
    ((libraries,),) = cur.fetchall()
    if libraries is None:
        return True
    return "timescaledb" in [name.strip() for name in str(libraries).split(",")]


def _create_extension(url: str) -> TimescaleStatus | None:
    """CREATE EXTENSION on a connection of its own (a FATAL error closes it); None when done."""
    try:
        with adbc.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except adbc_driver_manager.Error as exc:
        message = database_error(exc, "CREATE EXTENSION timescaledb failed").message
        if "preload" in message:
            return _NOT_PRELOADED
        if sqlstate(exc) == "42501" or "permission denied" in message:
            return TimescaleStatus(
                False,
                reason="this role may not create the extension",
                hint="run CREATE EXTENSION timescaledb once as a superuser (or the database "
                "owner), or connect as a role that may",
            )
        return TimescaleStatus(False, reason=message)
    return None


def detect_and_install(conn: Connection, url: str) -> TimescaleStatus:
    """Find TimescaleDB, installing the extension when the server offers it."""
    with conn.cursor() as cur:
        version = _installed_version(cur)
        if version is None:
            cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
            if not cur.fetchall():
                return TimescaleStatus(False, reason="the extension is not installed on the server")
            if not _preloaded(cur):
                return _NOT_PRELOADED
            conn.commit()
            failed = _create_extension(url)
            if failed is not None:
                return failed
            version = _installed_version(cur)
            if version is None:  # pragma: no cover - CREATE EXTENSION succeeded
                return TimescaleStatus(False, reason="CREATE EXTENSION timescaledb had no effect")
    if version_tuple(version) < MIN_VERSION:
        needed = ".".join(map(str, MIN_VERSION))
        return TimescaleStatus(
            False,
            version,
            reason=f"TimescaleDB {version} is older than {needed}",
            hint=f"install TimescaleDB {needed} or later, then ALTER EXTENSION timescaledb UPDATE",
        )
    return TimescaleStatus(True, version)


def raise_if_not_preloaded(url: str) -> None:
    """Raise a clear DatabaseError when this database has TimescaleDB but the server does not
    preload it (then every statement fails with a FATAL error: TimeBase cannot even read its
    hypertables). Called when the start failed; does nothing in any other case."""
    try:
        with adbc.connect(url) as conn, conn.cursor() as cur:
            # DDL fires TimescaleDB's event trigger, which loads the library (rolled back).
            cur.execute("CREATE TEMPORARY TABLE timebase_preload_probe (x int)")
            conn.rollback()
    except adbc_driver_manager.Error as exc:
        if "must be preloaded" in str(exc):
            raise DatabaseError(
                "this database uses TimescaleDB, but the server does not preload it, so no "
                f"table can be read: {_PRELOAD_HINT}",
                sqlstate=sqlstate(exc),
            ) from exc


def set_up(url: str) -> None:
    """Create the hypertables, compression and its policy (idempotent).

    Uses its own autocommit connection and holds the migration lock, so two processes starting
    at once do this one after the other.
    """
    with adbc.connect(url, autocommit=True) as conn, conn.cursor() as cur:
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
        status = await conn.run(
            lambda c: detect_and_install(c, pool.url), doing="detecting TimescaleDB"
        )
        if status.enabled:
            await conn.call(_set_up_or_raise, pool.url)
    features = ", ".join(FEATURES)
    if status.enabled:
        _log.info(
            "TimescaleDB %s: %s on",
            status.version,
            features,
            extra={"timescaledb": status.version},
        )
    elif status.hint is None:
        _log.info(
            "TimescaleDB not in use (%s): %s off; plain PostgreSQL tables serve the same queries",
            status.reason,
            features,
        )
    else:
        _log.warning(
            "TimescaleDB not in use (%s): %s off; plain PostgreSQL tables serve the same "
            "queries; to enable: %s",
            status.reason,
            features,
            status.hint,
        )
    return status


def _set_up_or_raise(url: str) -> None:
    try:
        set_up(url)
    except adbc_driver_manager.Error as exc:
        raise database_error(exc, "setting up TimescaleDB") from exc


def lock_against_compression(conn: Connection, table: str) -> None:
    """Lock hypertable `table` and all its chunks against compression for the caller's
    transaction (ROW EXCLUSIVE, as an INSERT or DELETE does, but taken up front and on every
    chunk; writers do not block each other).

    The compression policy holds an EXCLUSIVE lock on the chunk it compresses and upgrades it to
    ACCESS EXCLUSIVE at the end; a transaction that first reads a chunk (ACCESS SHARE) and then
    writes to, deletes from or drops it would deadlock with it. Taking the lock a write needs
    before reading anything makes the transaction wait for that one chunk to finish instead, and
    the policy's next chunk wait for the transaction. Retention (one hypertable's chunks: about
    53 intraday ones at the default 365 days) and bar writes call this.
    """
    with conn.cursor() as cur:
        cur.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")


def drop_chunks_before(conn: Connection, table: str, cutoff_sql: str) -> tuple[int, int]:
    """Drop the chunks of hypertable `table` entirely older than `cutoff_sql`.

    Returns (bars in the dropped chunks, chunks dropped): the bars are counted first, since
    `drop_chunks` only reports chunks.
    """
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT count(*) FROM {table} WHERE ts < (
                    SELECT max(range_end) FROM timescaledb_information.chunks
                    WHERE hypertable_schema = current_schema() AND hypertable_name = '{table}'
                      AND range_end <= {cutoff_sql})"""
        )
        ((bars,),) = cur.fetchall()
        cur.execute(f"SELECT count(*) FROM drop_chunks('{table}', older_than => {cutoff_sql})")
        ((chunks,),) = cur.fetchall()
    return int(bars), int(chunks)
