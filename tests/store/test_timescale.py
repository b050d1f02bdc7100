"""The TimescaleDB branch: set-up, compression, retention by chunks, and every way it can be off.

The TimescaleDB-only tests run on the `timescaledb` backend's server (tests/conftest.py), each in
a fresh database; they skip with the one reason of the fixtures when there is no TimescaleDB (and
fail under .ci/run).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.conftest import (
    NOT_PRELOADED,
    DatabaseServers,
    create_database,
    database_name,
    drop_database,
    skip_without_timescaledb,
)
from tests.support.eventually import eventually
from timebase.sdk.errors import DatabaseError
from timebase.sdk.intervals import IntervalClass
from timebase.store import Store, TimeRange, timescale
from timebase.store.embedded import EmbeddedPostgres, timescaledb_installed

from .conftest import bars_table, compress_chunks

T = TypeVar("T")

pytestmark = pytest.mark.timescale

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=365)  # 2024-06-01: inside a 7-day chunk, not on its boundary
OFF = "hypertables, compression, chunk-dropping retention off"


@pytest.fixture
def timescale_server(database_servers: DatabaseServers) -> str:
    """The TimescaleDB server's URL, started (or skipped) before the test's event loop runs."""
    return database_servers.url("timescaledb")


@pytest.fixture
def timescale_url(timescale_server: str) -> Iterator[str]:
    """A fresh database on the TimescaleDB server."""
    server = timescale_server
    url = create_database(server, prefix="ts")
    yield url
    drop_database(server, url)


@pytest.fixture
def not_preloaded_url(database_servers: DatabaseServers) -> Iterator[str]:
    """A fresh database on a server with the extension installed but not preloaded."""
    server = database_servers.url(NOT_PRELOADED)
    url = create_database(server, prefix="np")
    yield url
    drop_database(server, url)


async def query(store: Store, sql: str) -> list[tuple[Any, ...]]:
    def run(conn: Any) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

    return await store.pool.run(run)


def _timescale_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "TimescaleDB" in r.getMessage()]


async def _set_up_objects(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "hypertables": await query(
            store,
            "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
            "ORDER BY 1",
        ),
        "chunk intervals": await query(
            store,
            "SELECT hypertable_name, column_name, time_interval::text "
            "FROM timescaledb_information.dimensions ORDER BY 1",
        ),
        "compression": await query(
            store,
            "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index, "
            "orderby_asc FROM timescaledb_information.compression_settings ORDER BY 1, 2",
        ),
        "jobs": await query(
            store,
            "SELECT proc_name, hypertable_name, config->>'compress_after' "
            "FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL "
            "ORDER BY 1, 2",
        ),
        "aggregates": await query(
            store, "SELECT view_name FROM timescaledb_information.continuous_aggregates"
        ),
    }


async def test_features_are_set_up_once_and_idempotently(
    timescale_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(timescale_url, run_retention=False) as store:
        assert store.timescale.enabled
        assert re.fullmatch(r"2\.\d+\.\d+", store.timescale.version or "")
        first = await _set_up_objects(store)
        # A continuous aggregate left by an earlier TimeBase (nothing reads it) goes at next start.
        await query(
            store,
            "CREATE MATERIALIZED VIEW bars_daily_agg WITH (timescaledb.continuous) AS "
            "SELECT symbol, time_bucket(INTERVAL '1 day', ts) AS day, max(high) AS high "
            "FROM bars_intraday GROUP BY 1, 2 WITH NO DATA",
        )
    assert first == {
        "hypertables": [("bars_daily", True), ("bars_intraday", True)],
        "chunk intervals": [
            ("bars_daily", "ts", "365 days"),
            ("bars_intraday", "ts", "7 days"),
        ],
        "compression": [
            (table, column, segment, order, asc)
            for table in ("bars_daily", "bars_intraday")
            for column, segment, order, asc in (
                ("interval", 2, None, None),
                ("provider", 3, None, None),
                ("symbol", 1, None, None),
                ("ts", None, 1, True),
            )
        ],
        "jobs": [
            ("policy_compression", "bars_daily", "7 days"),
            ("policy_compression", "bars_intraday", "7 days"),
        ],
        "aggregates": [],
    }
    async with Store(timescale_url, run_retention=False) as store:
        assert store.timescale.enabled
        assert await _set_up_objects(store) == first  # nothing duplicated, the old view gone
    on = [r.getMessage() for r in _timescale_lines(caplog)]
    assert on == [f"TimescaleDB {store.timescale.version}: {OFF[:-4]} on"] * 2


async def test_retention_drops_whole_chunks_deletes_the_straddling_rest_and_trims_coverage(
    timescale_url: str,
) -> None:
    start, end = NOW - timedelta(days=400), NOW - timedelta(days=330)
    hours = [start + timedelta(hours=6 * i) for i in range(70 * 4)]  # 4 bars a day, 70 days
    async with Store(timescale_url, run_retention=False) as store:
        await store.write_fetched(
            bars_table(hours, interval="1h"), "AAPL", "1h", "test", start=start, end=end
        )
        days = [start + timedelta(days=i) for i in range(70)]
        await store.write_fetched(
            bars_table(days, interval="1d"), "AAPL", "1d", "test", start=start, end=end
        )
        chunks = await query(
            store,
            "SELECT range_start, range_end FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'bars_intraday' ORDER BY 1",
        )
        # Retention works on compressed chunks too (the policy compresses week-old chunks).
        assert await compress_chunks(store) == len(chunks) == 11
        straddling = [(a, b) for a, b in chunks if a < CUTOFF < b]
        assert straddling == [(datetime(2024, 5, 30, tzinfo=UTC), datetime(2024, 6, 6, tzinfo=UTC))]

        result = await store.apply_retention(now=NOW)

        # 35 days before the cutoff, 4 bars a day: counted in bars, never in chunks.
        assert result.deleted_bars == {IntervalClass.INTRADAY: 140}
        assert result.dropped_chunks == {IntervalClass.INTRADAY: 5}
        assert result.trimmed_ranges == {IntervalClass.INTRADAY: 1}
        left = await query(
            store,
            "SELECT range_start FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'bars_intraday' ORDER BY 1",
        )
        assert [a for (a,) in left] == [a for a, b in chunks if b > CUTOFF]
        kept = await store.read_table("AAPL", "1h", start, NOW)
        assert kept["timestamp"].to_pylist() == [t for t in hours if t >= CUTOFF]
        assert len(kept) == 140
        assert await store.covered("AAPL", "1h", "test", start, NOW) == [TimeRange(CUTOFF, end)]
        assert await store.missing("AAPL", "1h", "test", start, end) == [TimeRange(start, CUTOFF)]
        # Daily bars and their coverage stay.
        assert (await store.read_table("AAPL", "1d", start, NOW)).num_rows == 70
        assert await store.missing("AAPL", "1d", "test", start, end) == []

        again = await store.apply_retention(now=NOW)
        assert again.deleted_bars == {IntervalClass.INTRADAY: 0}
        assert again.dropped_chunks == {IntervalClass.INTRADAY: 0}


async def _while_compressing(
    store: Store, url: str, chunk: str, work: Callable[[], Awaitable[T]]
) -> T:
    """`work()` run while another session holds `chunk` as the compression policy does: an
    EXCLUSIVE lock first; once `work` waits for a lock (or is done), ACCESS EXCLUSIVE, then
    commit. A transaction that read the chunk before locking it would deadlock here."""
    from adbc_driver_postgresql import dbapi

    policy = await asyncio.to_thread(dbapi.connect, url)
    try:
        await asyncio.to_thread(_execute, policy, f"LOCK TABLE {chunk} IN EXCLUSIVE MODE")
        task = asyncio.ensure_future(work())

        async def waiting() -> bool:
            ((count,),) = await query(store, "SELECT count(*) FROM pg_locks WHERE NOT granted")
            return bool(count) or task.done()

        await eventually(waiting, within=30, what=f"the work waiting for {chunk}'s lock")
        await asyncio.to_thread(_execute, policy, f"LOCK TABLE {chunk} IN ACCESS EXCLUSIVE MODE")
        await asyncio.to_thread(policy.commit)
    finally:
        await asyncio.to_thread(policy.close)
    return await task


async def test_retention_waits_for_a_chunk_being_compressed_instead_of_deadlocking(
    timescale_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The compression policy (a background job on a real server) holds an EXCLUSIVE lock on the
    chunk it compresses and upgrades it to ACCESS EXCLUSIVE at the end. Retention reading that
    chunk first would deadlock with it (the pool then retries, logging "retrying after 40P01");
    it waits for the chunk instead and removes exactly the bars it should."""

    start = NOW - timedelta(days=400)
    hours = [start + timedelta(hours=6 * i) for i in range(70 * 4)]
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(timescale_url, run_retention=False) as store:
        await store.write_fetched(
            bars_table(hours, interval="1h"), "AAPL", "1h", "test", start=start, end=NOW
        )
        ((oldest,),) = await query(  # a chunk the retention drops
            store,
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'bars_intraday' ORDER BY range_start LIMIT 1",
        )
        result = await _while_compressing(
            store, timescale_url, oldest, lambda: store.apply_retention(now=NOW)
        )
    assert result.deleted_bars == {IntervalClass.INTRADAY: 140}
    assert result.dropped_chunks == {IntervalClass.INTRADAY: 5}
    assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()] == []


async def test_a_write_into_a_chunk_being_compressed_waits_instead_of_deadlocking(
    timescale_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A late correction (the upsert probes the stored rows, then inserts) into the chunk the
    compression policy is compressing: it waits for the chunk, no deadlock, no retry."""

    stamps = [NOW - timedelta(days=30) + timedelta(hours=i) for i in range(48)]
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(timescale_url, run_retention=False) as store:
        await store.upsert(bars_table(stamps, interval="1h"))
        ((chunk,),) = await query(
            store,
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
            f"WHERE hypertable_name = 'bars_intraday' AND range_start <= '{stamps[5].isoformat()}' "
            f"AND range_end > '{stamps[5].isoformat()}'",
        )
        correction = bars_table([stamps[5]], interval="1h", close=[2.25])
        written = await _while_compressing(
            store, timescale_url, chunk, lambda: store.upsert(correction)
        )
        assert written == 1
        read = await store.read_table("AAPL", "1h", stamps[0], stamps[-1] + timedelta(hours=1))
        assert read["close"].to_pylist() == [2.0] * 5 + [2.25] + [2.0] * 42
    assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()] == []


def _execute(conn: Any, sql: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql)


async def test_compressed_chunks_read_like_uncompressed_and_take_a_late_correction(
    timescale_url: str,
) -> None:
    now = datetime(2025, 3, 3, tzinfo=UTC)
    stamps = [now - timedelta(days=42) + timedelta(minutes=30 * i) for i in range(42 * 48)]
    closes = [100.0 + (i % 97) * 0.25 for i in range(len(stamps))]
    async with Store(timescale_url, run_retention=False) as store:
        for symbol in ("AAPL", "MSFT"):
            await store.upsert(bars_table(stamps, symbol=symbol, interval="30m", close=closes))
        before = await store.read_table(["AAPL", "MSFT"], "30m", stamps[0], now)
        last5 = await store.read_table("AAPL", "30m", stamps[0], now, limit=5)
        assert await compress_chunks(store) == 7  # every chunk
        assert (await store.read_table(["AAPL", "MSFT"], "30m", stamps[0], now)).equals(before)
        assert (await store.read_table("AAPL", "30m", stamps[0], now, limit=5)).equals(last5)
        datasets = {(d.symbol, d.rows) for d in await store.datasets()}
        assert datasets == {("AAPL", 2016), ("MSFT", 2016)}

        # A late correction: the bar of three weeks ago, in a compressed chunk, is replaced.
        late = now - timedelta(days=21)
        assert await store.upsert(bars_table([late], interval="30m", close=[2.5])) == 1
        after = await store.read_table(
            "AAPL", "30m", late - timedelta(hours=1), late + timedelta(hours=1)
        )
        assert after["close"].to_pylist() == [
            closes[stamps.index(late) - 2],
            closes[stamps.index(late) - 1],
            2.5,
            closes[stamps.index(late) + 1],
        ]
        assert (await store.read_table("AAPL", "30m", stamps[0], now)).num_rows == 2016


@pytest.mark.parametrize("role", ["superuser", "database owner"])
async def test_installed_but_not_preloaded_starts_on_plain_tables_with_one_line(
    not_preloaded_url: str, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A superuser reads it from the settings; the owner (who may create the trusted extension
    but not read shared_preload_libraries) learns it from CREATE EXTENSION's FATAL error."""
    url = not_preloaded_url
    if role == "database owner":
        name = f"owner_{database_name(url)}"
        await asyncio.to_thread(_sql, url, f"CREATE ROLE {name} LOGIN PASSWORD 'pw'")
        await asyncio.to_thread(_sql, url, f'ALTER DATABASE "{database_name(url)}" OWNER TO {name}')
        url = _as_role(url, name, "pw")
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(url, run_retention=False) as store:
        assert not store.timescale.enabled
        assert store.timescale.reason == "the extension is installed but not preloaded"
        # The FATAL error closed only the connection that tried: the store works.
        await store.upsert(bars_table([NOW], interval="1h"))
        assert (await store.read_table("AAPL", "1h", NOW, NOW + timedelta(hours=1))).num_rows == 1
    (line,) = _timescale_lines(caplog)
    assert line.levelno == logging.WARNING
    assert line.getMessage() == (
        f"TimescaleDB not in use (the extension is installed but not preloaded): {OFF}; "
        "plain PostgreSQL tables serve the same queries; to enable: add "
        "shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL "
        "(the embedded server: database.embedded_timescaledb: on)"
    )


def _sql(url: str, sql: str) -> None:
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)


def _as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(role)}:{password}@{host}"))


async def test_a_role_that_may_not_create_the_extension_starts_on_plain_tables(
    timescale_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = timescale_server
    url = create_database(server, prefix="role")
    role = f"limited_{database_name(url)}"
    admin = Store(url, pool_size=1, run_retention=False)
    await admin.pool.start()
    try:
        await query(admin, f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        # May connect and create tables, but not CREATE on the database (trusted extensions).
        await query(admin, f"GRANT CREATE ON SCHEMA public TO {role}")
        caplog.set_level(logging.INFO, logger="timebase.store")
        async with Store(_as_role(url, role, "pw"), run_retention=False) as store:
            assert not store.timescale.enabled
            assert store.timescale.reason == "this role may not create the extension"
        (line,) = _timescale_lines(caplog)
        assert line.getMessage().endswith(
            "to enable: run CREATE EXTENSION timescaledb once as a superuser (or the database "
            "owner), or connect as a role that may"
        )
        assert OFF in line.getMessage()
        await query(admin, f"DROP OWNED BY {role}")
    finally:
        await admin.pool.stop()
        drop_database(server, url)
        from adbc_driver_postgresql import dbapi

        with dbapi.connect(server, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")


async def test_an_extension_older_than_needed_starts_on_plain_tables(
    timescale_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timescale, "MIN_VERSION", (99, 1))
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(timescale_url, run_retention=False) as store:
        version = store.timescale.version
        assert not store.timescale.enabled
        assert await query(store, "SELECT count(*) FROM timescaledb_information.hypertables") == [
            (0,)
        ]
    (line,) = _timescale_lines(caplog)
    assert line.getMessage() == (
        f"TimescaleDB not in use (TimescaleDB {version} is older than 99.1): {OFF}; plain "
        "PostgreSQL tables serve the same queries; to enable: install TimescaleDB 99.1 or "
        "later, then ALTER EXTENSION timescaledb UPDATE"
    )


async def test_a_database_with_timescaledb_on_a_server_no_longer_preloading_it_is_a_clear_error(
    data_dir: Path,
) -> None:
    """Its hypertables cannot be read at all without the library: a clear error, not 'no
    connection to the server'."""
    if not await asyncio.to_thread(timescaledb_installed):
        skip_without_timescaledb()
    server = EmbeddedPostgres(data_dir, timescaledb="on")
    await server.start()
    try:
        async with Store(server.url, run_retention=False) as store:
            assert store.timescale.enabled
    finally:
        await server.stop()
    server = EmbeddedPostgres(data_dir, timescaledb="off")
    await server.start()
    try:
        with pytest.raises(DatabaseError) as err:
            await Store(server.url, run_retention=False).start()
    finally:
        await server.stop()
    assert err.value.message == (
        "this database uses TimescaleDB, but the server does not preload it, so no table can be "
        "read: add shared_preload_libraries = 'timescaledb' to postgresql.conf and restart "
        "PostgreSQL (the embedded server: database.embedded_timescaledb: on)"
    )
