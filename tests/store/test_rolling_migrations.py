"""A rolling upgrade: the newest migrations are applied while a gateway built from the previous
migration set still serves (docs/upgrades.md, "additive first, destructive one version later").

The previous gateway is a real `timebase serve` of the previous build: the source tree of the
commit before the newest migration file was added (`git archive`), run with its folders first on
PYTHONPATH, on its own migration files. A gateway of this build then starts on the same database
and applies the newest file while the previous one serves. The previous gateway keeps reading
stored bars and keeps fetching and storing new ones, and both give the same answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from adbc_driver_postgresql import dbapi

from tests.e2e.gateways import get_bars_between
from tests.fuzz.served import Served, serve
from timebase.store import discover_migrations

REPO = Path(__file__).resolve().parents[2]
#: The folders of a build: the `timebase` namespace portions, the migrations, the add-ons.
BUILD = ("gateway", "flight", "sdk", "proto", "sql", "providers")

CONFIG = """\
providers:
  enabled: [synthetic]
  process_user: root
"""

#: The settings docs/upgrades.md asks of the new version while older gateways still serve:
#: prices as float8 (0018) and no hot tier (older gateways bump no series versions, 0013).
ROLLING = """\
database:
  scaled_prices: false
hot_tier:
  enabled: false
"""

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 4, 1, tzinfo=UTC)


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, check=False, timeout=60
    )


def previous_build(newest: Path, into: Path) -> str:
    """Unpack the tree of the commit before `newest` was added (HEAD when it is not committed
    yet) into `into`; return that commit."""
    if shutil.which("git") is None or _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("the previous build comes from git history: not a git checkout")
    added = _git("log", "--diff-filter=A", "--format=%H", "--", str(newest.relative_to(REPO)))
    commits = added.stdout.decode().split()
    commit = f"{commits[-1]}^" if commits else "HEAD"
    archive = _git("archive", "--format=tar", commit, *BUILD)
    assert archive.returncode == 0, archive.stderr.decode()
    tar_path = into.with_suffix(".tar")
    tar_path.write_bytes(archive.stdout)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return commit


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
    old_tree = tmp_path / "previous"
    commit = previous_build(migrations[-1].path, old_tree)
    previous = sorted(int(p.name[:4]) for p in (old_tree / "sql").glob("*.sql"))
    assert previous == [m.version for m in migrations if m.version in previous]
    assert previous, commit
    assert previous[-1] < migrations[-1].version, commit
    pythonpath = os.pathsep.join(str(old_tree / folder) for folder in BUILD[:4])

    old = serve(tmp_path / "old", database_url, CONFIG, extra_env={"PYTHONPATH": pythonpath})
    started.append(old)
    assert _applied(database_url) == previous
    stored = get_bars_between(old.grpc_target, "SYN:ROLL", START, END)
    assert len(stored) == 31

    # migrates while `old` serves; writes what `old` can read (docs/upgrades.md)
    new = serve(tmp_path / "new", database_url, CONFIG + ROLLING)
    started.append(new)
    assert _applied(database_url) == [m.version for m in migrations]

    # The previous gateway still reads what is stored, and still fetches and stores.
    assert get_bars_between(old.grpc_target, "SYN:ROLL", START, END) == stored
    fetched_by_old = get_bars_between(old.grpc_target, "SYN:NEWER", START, END)
    assert len(fetched_by_old) == 31
    # The new gateway reads both the same way.
    assert get_bars_between(new.grpc_target, "SYN:ROLL", START, END) == stored
    assert get_bars_between(new.grpc_target, "SYN:NEWER", START, END) == fetched_by_old
    # The previous gateway reads what the new one fetched and stored.
    fetched_by_new = get_bars_between(new.grpc_target, "SYN:NEWEST", START, END)
    assert len(fetched_by_new) == 31
    assert get_bars_between(old.grpc_target, "SYN:NEWEST", START, END) == fetched_by_new
