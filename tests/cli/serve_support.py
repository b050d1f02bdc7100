"""Start `timebase serve` as a user would: a real subprocess, read until it says it is ready."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.conftest import DatabaseServers, create_database
from timebase.store.embedded import timescaledb_installed

TIMEBASE = [sys.executable, "-m", "timebase.cli.main"]


def start_serve(
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 60.0,
    stderr: IO[str] | None = None,
    command: Sequence[str] | None = None,
) -> tuple[subprocess.Popen[str], list[str]]:
    """`timebase serve` (or `command`) and the lines it printed up to "Press Ctrl-C to stop."
    (or EOF).

    Its log (stderr) goes to `stderr`, or nowhere.
    """
    proc = subprocess.Popen(
        [*TIMEBASE, "serve"] if command is None else list(command),
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    return proc, lines


def serve_database_env(backend: str, servers: DatabaseServers) -> dict[str, str]:
    """The environment that puts `timebase serve` on `backend`.

    The embedded PostgreSQL with TimescaleDB preloaded (`timescaledb`: the default setting,
    `database.embedded_timescaledb: auto`, as `make run` starts it once `make test` installed the
    extension) or not (`postgres`: `off`); when the extension files are not installed, a fresh
    database on TIMEBASE_TEST_TIMESCALE_URL (or the one skip reason of the fixtures).
    """
    if backend == "postgres":
        return {"TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB": "off"}
    if timescaledb_installed():
        return {}  # auto, the default: preloaded since the files are there
    return {"TIMEBASE_DATABASE_URL": create_database(servers.url("timescaledb"), prefix="serve")}
