from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from adbc_driver_postgresql import dbapi

from timebase.sdk.errors import DatabaseError
from timebase.store import BarQuery, ConnectionPool, Store, discover_migrations, migrate
from timebase.store.migrations import migrations_dir


async def _tables(pool: ConnectionPool) -> set[str]:
    def query(conn):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            return {row[0] for row in cur.fetchall()}

    return await pool.run(query)


async def _recorded(pool: ConnectionPool) -> list[tuple[int, str, str]]:
    def query(conn):
        with conn.cursor() as cur:
            cur.execute("SELECT version, name, checksum FROM timebase_migrations ORDER BY version")
            return [tuple(row) for row in cur.fetchall()]

    return await pool.run(query)


def _copy_with(directory: Path, name: str, sql: str) -> None:
    shutil.copytree(migrations_dir(), directory)
    (directory / name).write_text(sql)


def test_files_are_found_in_the_checkout():
    found = discover_migrations()
    assert found[0].version == 1
    assert found[0].name == "bars"
    assert migrations_dir() == Path(__file__).resolve().parents[2] / "sql"
    assert [m.version for m in found] == sorted(m.version for m in found)


async def test_from_empty_then_rerun(fresh_database_url):
    expected = await asyncio.to_thread(discover_migrations)
    pool = ConnectionPool(fresh_database_url, size=2)
    await pool.start()
    try:
        applied = await migrate(pool)
        assert [m.version for m in applied] == [m.version for m in expected]
        assert {"bars", "bars_intraday", "bars_daily", "coverage", "timebase_migrations"} <= (
            await _tables(pool)
        )
        recorded = await _recorded(pool)
        checksums = await asyncio.to_thread(lambda: [m.checksum for m in expected])
        assert recorded == [
            (m.version, m.name, c) for m, c in zip(expected, checksums, strict=True)
        ]
        assert await migrate(pool) == []
        assert await _recorded(pool) == recorded
    finally:
        await pool.stop()


async def test_two_concurrent_runners_apply_each_file_once(fresh_database_url):
    expected = await asyncio.to_thread(discover_migrations)
    pools = [ConnectionPool(fresh_database_url, size=1) for _ in range(3)]
    await asyncio.gather(*(p.start() for p in pools))
    try:
        results = await asyncio.gather(*(migrate(p) for p in pools))
        assert sorted(len(r) for r in results) == [0, 0, len(expected)]
        assert len(await _recorded(pools[0])) == len(expected)
    finally:
        await asyncio.gather(*(p.stop() for p in pools))


async def test_changed_file_is_refused(fresh_database_url, tmp_path):
    directory = tmp_path / "sql"
    await asyncio.to_thread(
        _copy_with, directory, "9001_extra.sql", "CREATE TABLE extra (x int);\n"
    )
    pool = ConnectionPool(fresh_database_url, size=1)
    await pool.start()
    try:
        assert [m.name for m in await migrate(pool, directory)][-1] == "extra"
        await asyncio.to_thread(
            (directory / "9001_extra.sql").write_text, "CREATE TABLE extra (x bigint);\n"
        )
        with pytest.raises(
            DatabaseError, match=r"9001_extra\.sql was changed after it was applied"
        ):
            await migrate(pool, directory)
    finally:
        await pool.stop()


async def test_failing_migration_is_rolled_back_and_named(fresh_database_url, tmp_path):
    directory = tmp_path / "sql"
    await asyncio.to_thread(
        _copy_with, directory, "9001_broken.sql", "CREATE TABLE half (x int);\nSELEC 1;\n"
    )
    pool = ConnectionPool(fresh_database_url, size=1)
    await pool.start()
    try:
        with pytest.raises(DatabaseError, match=r"migration 9001_broken\.sql failed"):
            await migrate(pool, directory)
        assert "half" not in await _tables(pool)
        shipped = await asyncio.to_thread(discover_migrations)
        assert [v for v, _, _ in await _recorded(pool)] == [m.version for m in shipped]
    finally:
        await pool.stop()


def test_badly_named_file_is_refused(tmp_path):
    (tmp_path / "1_bad.sql").write_text("")
    with pytest.raises(DatabaseError, match=r"NNNN_name\.sql"):
        discover_migrations(tmp_path)


def _pause_jobs(url: str) -> None:
    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM timescaledb_information.jobs j, "
            "LATERAL alter_job(j.job_id, scheduled => false) WHERE j.hypertable_name IS NOT NULL"
        )
        cur.fetchall()


async def test_row_estimate_is_the_planners_without_reading_rows(fresh_database_url: str) -> None:
    def estimate() -> tuple[int, int]:
        with dbapi.connect(fresh_database_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(
                'INSERT INTO bars_daily (symbol, "interval", provider, ts, open, high, low, '
                "close, volume) SELECT 'EST', '1d', 'p', timestamptz '2000-01-01' + g * "
                "interval '1 day', 1, 1, 1, 1, 0 FROM generate_series(0, 9999) g"
            )
            cur.execute("ANALYZE bars_daily")
            query = BarQuery.build(
                "EST", "1d", datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
            )
            cur.execute("SELECT timebase_row_estimate($1)", parameters=(query.sql(),))
            ((whole,),) = cur.fetchall()
            tenth = BarQuery.build(
                "EST", "1d", datetime(2000, 1, 1, tzinfo=UTC), datetime(2002, 9, 27, tzinfo=UTC)
            )
            cur.execute("SELECT timebase_row_estimate($1)", parameters=(tenth.sql(),))
            ((part,),) = cur.fetchall()
            return int(whole), int(part)

    async with Store(fresh_database_url, run_retention=False) as store:
        if store.timescale.enabled:
            # On a server running TimescaleDB's jobs, the compression policy would compress these
            # year-old chunks as they are written; the planner's estimate of a compressed chunk
            # counts batches of 1,000 (docs/timescaledb.md). This is about plain chunks.
            await asyncio.to_thread(_pause_jobs, fresh_database_url)
    whole, part = await asyncio.to_thread(estimate)
    assert 9_000 <= whole <= 11_000
    assert 700 <= part <= 1_300
