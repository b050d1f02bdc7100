"""A rolling upgrade: the newest migrations are applied while a gateway built from the previous
migration set still serves (docs/upgrades.md, "additive first, destructive one version later").

The previous gateway is a real `timebase serve` whose migration runner only knows the files
before the newest one (a copy of `sql/` without it), which is what the previous release ships.
A gateway of this version then starts on the same database and applies the newest file; the
previous one keeps answering reads of stored bars and keeps fetching and storing new ones, and
the two give the same answers.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from adbc_driver_postgresql import dbapi

from tests.e2e.gateways import get_bars_between
from tests.fuzz.served import Served, serve
from timebase.store import discover_migrations

CONFIG = """\
providers:
  enabled: [synthetic]
  process_user: root
"""

#: `timebase`, with the migration runner reading the files of the directory given first.
PINNED = """\
import sys
from pathlib import Path

import timebase.store.migrations as migrations

folder = Path(sys.argv.pop(1))
migrations.migrations_dir = lambda: folder

from timebase.cli.main import main

sys.exit(main())
"""

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 4, 1, tzinfo=UTC)


def _applied(url: str) -> list[int]:
    with dbapi.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM timebase_migrations ORDER BY version")
        return [int(row[0]) for row in cur.fetchall()]


@pytest.fixture
def started() -> Iterator[list[Served]]:
    gateways: list[Served] = []
    yield gateways
    for gateway in gateways:
        gateway.stop()
    for gateway in gateways:
        assert gateway.tracebacks() == [], gateway.log.read_text()[-4000:]


def test_a_previous_gateway_keeps_serving_while_the_newest_migrations_are_applied(
    database_url: str, tmp_path: Path, started: list[Served]
) -> None:
    migrations = discover_migrations()
    assert len(migrations) >= 2
    *previous, newest = migrations
    pinned_sql = tmp_path / "sql-previous"
    pinned_sql.mkdir()
    for migration in previous:
        shutil.copy(migration.path, pinned_sql / migration.path.name)
    script = tmp_path / "timebase_previous.py"
    script.write_text(textwrap.dedent(PINNED))
    command = [sys.executable, str(script), str(pinned_sql)]

    old = serve(tmp_path / "old", database_url, CONFIG, command=command)
    started.append(old)
    assert _applied(database_url) == [m.version for m in previous]
    stored = get_bars_between(old.grpc_target, "SYN:ROLL", START, END)
    assert len(stored) == 31

    new = serve(tmp_path / "new", database_url, CONFIG)  # migrates while `old` serves
    started.append(new)
    assert _applied(database_url) == [m.version for m in migrations]
    assert newest.version == _applied(database_url)[-1]

    # The previous gateway still reads what is stored, and still fetches and stores.
    assert get_bars_between(old.grpc_target, "SYN:ROLL", START, END) == stored
    fetched_by_old = get_bars_between(old.grpc_target, "SYN:NEWER", START, END)
    assert len(fetched_by_old) == 31
    # The new gateway reads both the same way.
    assert get_bars_between(new.grpc_target, "SYN:ROLL", START, END) == stored
    assert get_bars_between(new.grpc_target, "SYN:NEWER", START, END) == fetched_by_old
