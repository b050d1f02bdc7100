"""deploy/backup/backup.sh and restore.sh against a real PostgreSQL (and TimescaleDB, where the
run's backend has it): a store with bars is dumped, destroyed and restored identically.

The scripts run with the PostgreSQL client programs of the server under test (the embedded
server's own, so pg_dump is exactly the server's version, as in the compose backup service).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from adbc_driver_postgresql import dbapi

from timebase.store import Store

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "backup"


def _client_bin(url: str) -> Path:
    """The directory of the server's own psql/pg_dump (asked from the server itself)."""
    with dbapi.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT setting FROM pg_config() WHERE name = 'BINDIR'")
        (bindir,) = cur.fetchone()
    return Path(str(bindir))


def _run(
    script: str, url: str, backups: Path, *args: str, first_on_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))  # the test servers' URLs name a socket directory here
    path = f"{_client_bin(url)}:/usr/bin:/bin"
    env = {
        "PATH": path if first_on_path is None else f"{first_on_path}:{path}",
        "PGHOST": query.get("host") or parts.hostname or "127.0.0.1",
        "PGPORT": query.get("port") or str(parts.port or 5432),
        "PGUSER": parts.username or "postgres",
        "PGDATABASE": parts.path.lstrip("/"),
        "BACKUP_DIR": str(backups),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return subprocess.run(
        ["sh", str(SCRIPTS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with dbapi.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


BARS = "SELECT symbol, ts::text, open, close, volume FROM bars_daily ORDER BY symbol, ts"


def test_backup_destroy_restore(database_url: str, tmp_path: Path) -> None:
    async def migrate() -> bool:
        store = Store(database_url, pool_size=1, run_retention=False)
        await store.start()
        try:
            return bool(store.timescale.enabled)
        finally:
            await store.stop()

    timescale = asyncio.run(migrate())
    with dbapi.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO bars_daily (symbol, interval, provider, ts, open, high, low, close, volume) "
            "SELECT 'SYN:ACME', '1d', 'synthetic', t, 100 + n, 101 + n, 99 + n, 100.5 + n, 1000 * n "
            "FROM generate_series(1, 30) AS n, "
            "LATERAL (SELECT timestamptz '2024-01-01 00:00+00' + (n - 1) * interval '1 day') AS s(t)"
        )
        conn.commit()
    before = _rows(database_url, BARS)
    assert len(before) == 30

    backups = tmp_path / "backups"
    done = _run("backup.sh", database_url, backups, "once")
    assert done.returncode == 0, done.stderr
    [dump] = sorted(backups.glob("*.dump"))
    assert dump.name.startswith(f"{urlsplit(database_url).path.lstrip('/')}-")
    assert "wrote" in done.stderr

    # Destroyed: the bars table gone and then some.
    with dbapi.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE bars_daily CASCADE")
        conn.commit()

    done = _run("restore.sh", database_url, backups, "latest")
    assert done.returncode == 0, done.stderr
    assert f"restored {dump}" in done.stderr
    assert _rows(database_url, BARS) == before
    if timescale:
        assert _rows(
            database_url,
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1",
        ) == [("bars_daily",), ("bars_intraday",)]
        # post_restore ended restoring mode: the background jobs run again.
        assert _rows(database_url, "SELECT current_setting('timescaledb.restoring')") == [("off",)]


def test_restore_refuses_what_is_not_a_dump(database_url: str, tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-dump"
    bogus.write_text("hello")
    done = _run("restore.sh", database_url, tmp_path, str(bogus))
    assert done.returncode == 1
    assert f"timebase-restore: {bogus} is not a pg_dump custom-format archive" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _run("restore.sh", database_url, empty, "latest")
    assert done.returncode == 1
    assert f"timebase-restore: no dump in {empty}" in done.stderr


def test_backup_refuses_a_pg_dump_older_than_the_server(database_url: str, tmp_path: Path) -> None:
    """A pg_dump of an older major version than the server (here one that says it is 9.6) is
    refused before it dumps anything."""
    old = tmp_path / "old-client"
    old.mkdir()
    shim = old / "pg_dump"
    shim.write_text('#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n')
    shim.chmod(0o755)
    backups = tmp_path / "backups"
    done = _run("backup.sh", database_url, backups, "once", first_on_path=old)
    assert done.returncode == 1
    server = _rows(database_url, "SELECT current_setting('server_version_num')")[0][0]
    assert (
        f"timebase-backup: pg_dump (PostgreSQL) 9.6.24 is older than the server ({server}): "
        "refusing" in done.stderr
    )
    assert list(backups.iterdir()) == []
