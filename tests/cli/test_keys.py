"""`timebase keys` as an operator runs it (real subprocesses, real PostgreSQL), and `timebase
serve` refusing to listen beyond loopback without keys."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.serve_support import TIMEBASE
from timebase.auth import keystore
from timebase.auth.authenticator import Authenticator
from timebase.cli.main import main
from timebase.core.config import AuthConfig
from timebase.sdk.errors import Unauthenticated
from timebase.store import Store
from timebase.store.embedded import EmbeddedPostgres

_KEY = re.compile(r"tb_[A-Za-z0-9_-]{43}")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env.update(extra)
    return env


@dataclass
class Keys:
    """`timebase keys` run in this process (`main`, as the entry point calls it): the same code
    as the command without an interpreter start per call."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        # main() would hand the root logger to its own handler: keep pytest's.
        self.monkeypatch.setattr("timebase.cli.main.configure_logging", lambda *a, **k: None)
        self.capsys.readouterr()
        code = main(["keys", *args])
        out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(["keys", *args], code, out, err)


@pytest.fixture
def database(database_url: str) -> str:
    """A fresh database of its own, on each backend."""
    return database_url


@pytest.fixture
def keys(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Keys:
    """`timebase keys` with its own PostgreSQL database (TIMEBASE_DATABASE_URL)."""
    for name in [n for n in os.environ if n.startswith("TIMEBASE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TIMEBASE_DATABASE_URL", database)
    monkeypatch.setenv("TIMEBASE_LOG_LEVEL", "ERROR")
    return Keys(monkeypatch, capsys)


def test_create_list_hash_revoke(keys: Keys, database: str) -> None:
    created = keys("create", "--scope", "admin", "--name", "ops")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    key = lines[-1]
    assert _KEY.fullmatch(key)  # alone on the last line
    assert lines[0] == f"Created the admin key 'ops' ({key[:11]}…)."
    assert key not in created.stderr

    second = keys("create", "--scope", "read")
    assert second.returncode == 0, second.stderr
    read_key = second.stdout.splitlines()[-1]
    assert f"Created the read key 'read-{read_key[3:11]}'" in second.stdout

    duplicate = keys("create", "--scope", "write", "--name", "ops")
    assert (duplicate.returncode, duplicate.stderr) == (
        2,
        "timebase: name: a key named 'ops' already exists; revoke it first or choose another "
        "name\n",
    )

    listed = keys("list")
    assert listed.returncode == 0, listed.stderr
    header, first, other = listed.stdout.splitlines()
    assert header.split() == ["NAME", "SCOPE", "PREFIX", "CREATED", "LAST", "USED", "STATUS"]
    assert first.split()[:3] == ["ops", "admin", key[:11]]
    assert first.split()[-2:] == ["never", "active"]
    assert other.split()[:3] == [f"read-{read_key[3:11]}", "read", read_key[:11]]
    assert key not in listed.stdout

    hashed = keys("hash", stdin=key + "\n")
    assert (hashed.returncode, hashed.stdout) == (
        0,
        hashlib.sha256(key.encode()).hexdigest() + "\n",
    )

    revoked = keys("revoke", key[:11])
    assert (revoked.returncode, revoked.stdout) == (0, f"Revoked the key 'ops' ({key[:11]}…).\n")
    assert "revoked" in keys("list").stdout.splitlines()[1]
    again = keys("revoke", "ops")
    assert (again.returncode, again.stderr) == (
        1,
        "timebase: no active key is named 'ops' or has that prefix (see `timebase keys list`)\n",
    )

    async def check() -> None:  # a TimeBase refuses the revoked key, takes the other
        async with Store(database, run_retention=False) as store:
            auth = Authenticator(AuthConfig(mode="keys"), store.pool)
            await auth.start()
            try:
                with pytest.raises(Unauthenticated):
                    await auth.authenticate(f"Bearer {key}", "127.0.0.1", "rest")
                caller = await auth.authenticate(f"Bearer {read_key}", "127.0.0.1", "rest")
                assert caller.key_name == f"read-{read_key[3:11]}"
            finally:
                await auth.stop()
            (ops, _) = await store.pool.run(keystore.list_keys)
            assert ops.revoked
            # Every key action is audited (door "cli"), the refused ones too; never the key.
            rows = await store.pool.run(_audit_rows)
            assert [row[:3] for row in rows] == [
                ("key_create", "cli", "ok"),
                ("key_create", "cli", "ok"),
                ("key_create", "cli", "INVALID_REQUEST"),
                ("key_revoke", "cli", "ok"),
                ("key_revoke", "cli", "KEY_NOT_FOUND"),
            ]
            assert rows[0][3] == {"name": "ops", "scope": "admin", "prefix": key[:11]}
            assert rows[4][3]["key"] == "ops"
            assert not any(key in str(row) or read_key in str(row) for row in rows)

    asyncio.run(check())


def _audit_rows(conn: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    with conn.cursor() as cur:
        cur.execute("SELECT action, door, outcome, detail::text FROM audit ORDER BY id")
        return [(a, d, o, json.loads(detail)) for a, d, o, detail in cur.fetchall()]


def test_usage_errors(keys: Keys) -> None:
    with pytest.raises(SystemExit) as raised:
        keys("create", "--scope", "root")
    assert raised.value.code == 2
    assert "argument --scope: invalid choice: 'root'" in keys.capsys.readouterr().err
    empty = keys("hash", stdin="")
    assert (empty.returncode, empty.stderr) == (2, "timebase: keys hash: expected a key on stdin\n")


def test_embedded_database_started_or_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database URL: the command starts the data directory's embedded PostgreSQL, or uses
    the one a running TimeBase holds."""
    for name in [n for n in os.environ if n.startswith("TIMEBASE_")]:
        monkeypatch.delenv(name)
    data = tmp_path / "data"
    monkeypatch.setenv("TIMEBASE_DATA_DIR", str(data))
    monkeypatch.setenv("TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB", "off")
    monkeypatch.setenv("TIMEBASE_LOG_LEVEL", "ERROR")
    keys = Keys(monkeypatch, capsys)
    created = keys("create", "--scope", "write", "--name", "ci")
    assert created.returncode == 0, created.stderr
    server = EmbeddedPostgres(data, timescaledb="off")  # as a running `timebase serve` would
    asyncio.run(server.start())
    try:
        listed = keys("list")
    finally:
        asyncio.run(server.stop())
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:2] == ["ci", "write"]


def test_serve_refuses_every_address_without_keys(tmp_path: Path) -> None:
    env = _env(
        TIMEBASE_HOST="0.0.0.0",
        TIMEBASE_DATA_DIR=str(tmp_path / "data"),
        TIMEBASE_GRPC_PORT="0",
        TIMEBASE_FLIGHT_PORT="0",
        TIMEBASE_HTTP_PORT="0",
    )
    result = subprocess.run(
        [*TIMEBASE, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "timebase: refusing to listen on 0.0.0.0 without API keys: anyone who can reach it "
        "could read, write and administer TimeBase. Turn keys on with `auth.mode: keys` "
        "(TIMEBASE_AUTH_MODE=keys) and create one with `timebase keys create --scope admin`, "
        "listen on loopback only (TIMEBASE_HOST=127.0.0.1), or accept the risk with "
        "`auth.mode: none` (TIMEBASE_AUTH_MODE=none)"
    )
    assert not (tmp_path / "data").exists()  # refused before anything started


def test_keys_connect_with_the_password_file(database: str, tmp_path: Path) -> None:
    """`database.password_file` (how docker-compose.prod.yml passes the password) is used by
    `timebase keys` as by `serve`: the password in the file reaches the connection."""
    from urllib.parse import urlsplit

    from timebase.cli.key_database import key_database
    from timebase.core.config import Config, DatabaseConfig

    secret = tmp_path / "db_password"
    secret.write_text("from-the-file\n")
    config = Config(database=DatabaseConfig(url=database, password_file=secret))

    async def connect() -> str | None:
        async with key_database(config) as store:
            assert await store.pool.run(keystore.list_keys) == []  # it works on that connection
            return urlsplit(store.url).password

    assert asyncio.run(connect()) == "from-the-file"
