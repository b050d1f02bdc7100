"""The embedded PostgreSQL: start, reuse across restarts, one owner per data directory."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from adbc_driver_postgresql import dbapi

from tests.conftest import skip_without_timescaledb
from timebase.sdk.errors import EmbeddedDatabaseError
from timebase.store import embedded
from timebase.store.embedded import EmbeddedPostgres, timescaledb_installed


def _query_blocking(url: str, sql: str) -> list[tuple[object, ...]]:
    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


async def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    return await asyncio.to_thread(_query_blocking, url, sql)


async def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, text=True, check=False
    )


async def test_starts_and_survives_restart_with_data_intact(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir)
    await first.start()
    try:
        await _query(first.url, "CREATE TABLE kept (id int PRIMARY KEY, price float8)")
        await _query(first.url, "INSERT INTO kept VALUES (1, 101.25), (2, 0.1)")
        assert await _query(first.url, "SELECT current_setting('listen_addresses')") == [
            ("",)
        ]  # Unix socket only
    finally:
        await first.stop()
    assert not first.running

    second = EmbeddedPostgres(data_dir)
    await second.start()
    try:
        assert await _query(second.url, "SELECT id, price FROM kept ORDER BY id") == [
            (1, 101.25),
            (2, 0.1),
        ]
        assert await _query(
            second.url, "SELECT current_setting('server_version_num')::int >= 150000"
        ) == [(True,)]
    finally:
        await second.stop()


async def test_refuses_a_second_owner_of_the_same_data_dir(data_dir: Path) -> None:
    owner = EmbeddedPostgres(data_dir)
    await owner.start()
    try:
        with pytest.raises(EmbeddedDatabaseError) as err:
            await EmbeddedPostgres(data_dir).start()
        assert str(err.value) == (
            f"the data directory {data_dir} is already in use by another TimeBase "
            f"(pid {os.getpid()}); stop that one first, or give this one its own directory "
            "with TIMEBASE_DATA_DIR"
        )
        # ... and from another process too, while the owner keeps serving.
        script = (
            "import asyncio, sys\n"
            "from pathlib import Path\n"
            "from timebase.store.embedded import EmbeddedPostgres\n"
            "from timebase.sdk.errors import EmbeddedDatabaseError\n"
            "try:\n"
            "    asyncio.run(EmbeddedPostgres(Path(sys.argv[1])).start())\n"
            "except EmbeddedDatabaseError as exc:\n"
            "    print(exc.code, exc.message)\n"
        )
        out = (await _run(sys.executable, "-c", script, str(data_dir))).stdout
        assert out.startswith("EMBEDDED_DATABASE_ERROR the data directory")
        assert f"(pid {os.getpid()})" in out
        assert await _query(owner.url, "SELECT 1") == [(1,)]
    finally:
        await owner.stop()


async def test_recovers_a_server_orphaned_by_a_killed_owner(data_dir: Path) -> None:
    """A TimeBase killed with SIGKILL leaves PostgreSQL running; the next start takes it over."""
    script = (
        "import asyncio, os, sys\n"
        "from pathlib import Path\n"
        "from timebase.store.embedded import EmbeddedPostgres\n"
        "from adbc_driver_postgresql import dbapi\n"
        "server = EmbeddedPostgres(Path(sys.argv[1]))\n"
        "asyncio.run(server.start())\n"
        "with dbapi.connect(server.url, autocommit=True) as c, c.cursor() as cur:\n"
        "    cur.execute('CREATE TABLE survivor AS SELECT 42 AS answer')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = await _run(sys.executable, "-c", script, str(data_dir))
    assert proc.returncode == -9
    pid_file = data_dir / "postgres" / "postmaster.pid"
    assert await asyncio.to_thread(pid_file.exists)  # the orphan still runs

    server = EmbeddedPostgres(data_dir)
    await server.start()
    try:
        assert await _query(server.url, "SELECT answer FROM survivor") == [(42,)]
    finally:
        await server.stop()
    assert not await asyncio.to_thread(pid_file.exists)


async def test_refuses_a_non_empty_directory_without_a_cluster(data_dir: Path) -> None:
    notes = data_dir / "postgres" / "notes.txt"
    await asyncio.to_thread(notes.parent.mkdir)
    await asyncio.to_thread(notes.write_text, "mine")
    with pytest.raises(EmbeddedDatabaseError, match=r"is not empty but holds no PostgreSQL"):
        await EmbeddedPostgres(data_dir).start()
    # The failed start released the lock: a later start in a clean directory works.
    await asyncio.to_thread(notes.unlink)
    server = EmbeddedPostgres(data_dir)
    await server.start()
    await server.stop()


async def test_long_data_dir_paths_use_a_short_socket_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedPostgres(deep)
    await server.start()
    try:
        assert await _query(server.url, "SELECT 1") == [(1,)]
        assert "/timebase-pg-" in server.url
    finally:
        await server.stop()


async def test_a_data_dir_too_long_for_its_socket_path_by_a_few_bytes_starts() -> None:
    # 97 characters: short enough for the directory, too long for "<dir>/.s.PGSQL.5432" (107).
    base = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="tb-", dir="/tmp"))
    suffix = len(str(EmbeddedPostgres(base).pgdata)) - len(str(base))  # e.g. "/postgres"
    deep = base / ("d" * (97 - suffix - len(str(base)) - 1))
    server = EmbeddedPostgres(deep)
    assert len(str(server.pgdata)) == 97
    try:
        await server.start()
        assert await _query(server.url, "SELECT 1") == [(1,)]
        assert "/timebase-pg-" in server.url
    finally:
        await server.stop()
        await asyncio.to_thread(shutil.rmtree, base, ignore_errors=True)


async def test_timescaledb_auto_preloads_when_installed_off_does_not(data_dir: Path) -> None:
    if not await asyncio.to_thread(timescaledb_installed):
        skip_without_timescaledb()
    preload = "SELECT current_setting('shared_preload_libraries')"
    server = EmbeddedPostgres(data_dir, settings={"shared_preload_libraries": "pg_prewarm"})
    await server.start()
    try:
        assert server.preloads_timescaledb
        assert await _query(server.url, preload) == [("pg_prewarm,timescaledb",)]
        assert await _query(
            server.url, "SELECT current_setting('timescaledb.telemetry_level')"
        ) == [("off",)]
        await _query(server.url, "CREATE EXTENSION timescaledb")
        assert await _query(
            server.url, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ) == [("2.28.3",)]
    finally:
        await server.stop()
    off = EmbeddedPostgres(data_dir, timescaledb="off")
    await off.start()
    try:
        assert not off.preloads_timescaledb
        assert await _query(off.url, preload) == [("",)]
    finally:
        await off.stop()


async def test_timescaledb_on_without_its_files_is_a_clear_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "timescaledb_installed", lambda: False)
    server = EmbeddedPostgres(data_dir, timescaledb="on")
    with pytest.raises(EmbeddedDatabaseError) as err:
        await server.start()
    assert err.value.message.startswith(
        "database.embedded_timescaledb is on, but the TimescaleDB extension is not installed in "
        "the embedded PostgreSQL ("
    )
    assert err.value.message.endswith(
        "): install it (for example with ../shared/timescaledb/install.sh) or set it to auto or off"
    )
    assert not server.running
    # auto without the files: a plain server.
    auto = EmbeddedPostgres(data_dir)
    await auto.start()
    try:
        assert not auto.preloads_timescaledb
    finally:
        await auto.stop()
