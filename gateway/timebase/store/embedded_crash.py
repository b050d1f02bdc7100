"""What a crashed embedded PostgreSQL leaves behind, and clearing it so the server starts again.

After `kill -9` of the postmaster two things can stop a new one from starting:

- its server processes (backends, checkpointer, …) may still run for a moment, attached to the old
  shared memory segment: PostgreSQL refuses to start while that segment is in use ("pre-existing
  shared memory block is still in use");
- `postmaster.pid` still names the dead postmaster. PostgreSQL ignores a lock file whose process
  is gone, but when nothing reaps the dead process (PID 1 of many containers does not), it stays a
  zombie, looks alive to `kill(pid, 0)`, and PostgreSQL refuses to start ("lock file already
  exists"); the socket's lock file has the same problem.

`clear_crash_leftovers` kills the dead postmaster's remaining server processes (the `postgres`
processes whose working directory is the data directory: PostgreSQL runs in it), waits until they
are gone, and removes the lock files (whatever process they name now is not that server). The
caller holds the data directory's own lock, so no other TimeBase starts a server there meanwhile.
Nothing here touches the data files: the new server's crash recovery replays the WAL, so every
committed transaction is kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

_log = logging.getLogger(__name__)

PID_FILE = "postmaster.pid"
SOCKET_LOCK_FILE = ".s.PGSQL.5432.lock"
_PROC = Path("/proc")


def process_alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie, exited but not reaped, is not)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reaps it when it happens to be our own child
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        stat = ""
    if stat:
        state = stat.rpartition(")")[2].split()[:1]
        return state not in (["Z"], ["X"], ["x"])
    try:  # no /proc (not Linux)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid_file(path: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file (None: no file, or unreadable)."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.lstrip("-").isdigit() else None


def server_processes(pgdata: Path) -> list[int]:
    """Running `postgres` processes whose working directory is `pgdata` (a server's processes;
    anything else that happens to be in that directory, a shell for one, is left alone)."""
    target = str(pgdata)
    found: list[int] = []
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            exe = os.readlink(entry / "exe")
        except OSError:  # gone, a zombie, or another user's process we may not inspect
            continue
        if cwd == target and Path(exe).name == "postgres" and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def runs_server(pid: int, pgdata: Path) -> bool:
    """Whether `pid` is a running server process of `pgdata` (without /proc: running at all)."""
    if not _PROC.is_dir():
        return process_alive(pid)
    return pid in server_processes(pgdata)


def clear_crash_leftovers(
    pgdata: Path, socket_dir: Path | None, *, timeout: float = 5.0
) -> list[int]:
    """Clear what a dead postmaster left (see the module docstring); return the pids killed.

    Once the server's processes are gone, a lock file naming any process still running names an
    unrelated one (a zombie, or its pid reused): it is stale, and removed like one naming none.
    """
    killed = server_processes(pgdata)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if killed:
        _log.warning(
            "killed %d server processes left by the crashed embedded PostgreSQL",
            len(killed),
            extra={"pids": killed},
        )
    deadline = time.monotonic() + timeout
    while any(process_alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = {pid for pid in killed if process_alive(pid)}
    locks = [pgdata / PID_FILE]
    if socket_dir is not None:
        locks.append(socket_dir / SOCKET_LOCK_FILE)
    for lock in locks:
        owner = read_pid_file(lock)
        if owner is None or owner in survivors:
            continue
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        _log.info("removed a stale lock file", extra={"path": str(lock), "pid": owner})
    return killed
