"""The database of `timebase keys`: the one `timebase serve` uses, with the same configuration.

`database.url` when set; otherwise the data directory's embedded PostgreSQL, started for the
command and stopped after it, or, when a running TimeBase holds the data directory, that
server's (its Unix socket, named in `postmaster.pid`). Migrations are applied as `serve` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from timebase.core.config import Config
from timebase.sdk.errors import EmbeddedDatabaseError
from timebase.store import Store
from timebase.store.embedded import PORT, EmbeddedPostgres

#: Line of `postmaster.pid` naming the socket directory (PostgreSQL's LOCK_FILE_LINE_SOCKET_DIR).
_SOCKET_DIR_LINE = 4


@contextlib.asynccontextmanager
async def key_database(config: Config) -> AsyncIterator[Store]:
    """A started `Store` (no retention job) on the configured database."""
    embedded: EmbeddedPostgres | None = None
    url = await asyncio.to_thread(config.database.connection_url)  # + database.password_file
    if url is None:
        embedded = EmbeddedPostgres(
            config.data_dir,
            settings=config.database.embedded_settings,
            timescaledb=config.database.embedded_timescaledb,
        )
        try:
            await embedded.start()
            url = embedded.url
        except EmbeddedDatabaseError as exc:
            if "owner_pid" not in exc.details:
                raise
            embedded = None
            url = await asyncio.to_thread(running_server_url, config.data_dir)
            if url is None:
                raise
    store = Store(url, pool_size=1, run_retention=False)
    try:
        await store.start()
        try:
            yield store
        finally:
            await store.stop()
    finally:
        if embedded is not None:
            await embedded.stop()


def running_server_url(data_dir: Path) -> str | None:
    """The URL of the embedded PostgreSQL a running TimeBase serves from `data_dir` (None when
    no server is running there)."""
    pid_file = data_dir.expanduser().resolve() / "postgres" / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return None
    if len(lines) <= _SOCKET_DIR_LINE or not lines[_SOCKET_DIR_LINE].strip():
        return None
    socket_dir = lines[_SOCKET_DIR_LINE].strip()
    return f"postgresql://postgres@/postgres?host={quote(socket_dir, safe='/')}&port={PORT}"
