"""Versioned schema migrations: the plain `.sql` files of `sql/`, applied in order at start.

Files are named `NNNN_name.sql` and must not contain transaction control: each one runs in its own
transaction together with the row recording it in `timebase_migrations` (version, name, checksum,
applied_at). A session advisory lock is held for the whole run, so two processes starting at once
apply each file exactly once. A file whose checksum changed after it was applied is refused: add a
new migration instead of editing an applied one.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_manager

from timebase.sdk.errors import DatabaseError
from timebase.store.pool import Connection, ConnectionPool, database_error

_log = logging.getLogger(__name__)

#: Advisory lock key of the migration run ("TimeBase" in ASCII).
MIGRATION_LOCK = 0x54696D6542617365

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS timebase_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        """SHA-256 of the file, line endings normalised (a CRLF checkout is the same file)."""
        return hashlib.sha256(self.path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def migrations_dir() -> Path:
    """Where the `.sql` files are: packaged beside this module in a wheel, `sql/` in a checkout."""
    here = Path(__file__).resolve()
    packaged = here.parent / "sql"
    if packaged.is_dir():
        return packaged
    return here.parents[3] / "sql"


def discover(directory: Path | None = None) -> list[Migration]:
    """The migrations in `directory`, in version order."""
    directory = directory or migrations_dir()
    if not directory.is_dir():
        raise DatabaseError(f"migrations directory not found: {directory}")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise DatabaseError(f"migration file {path.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise DatabaseError(
                f"two migration files have version {version}: {found[version].path.name}, {path.name}"
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def apply_migrations(conn: Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply the pending `migrations` on `conn` (a non-autocommit connection); return them."""
    applied_now: list[Migration] = []
    with conn.cursor() as cur:
        cur.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        cur.fetchall()
        conn.commit()
        try:
            cur.execute(_CREATE_TABLE)
            conn.commit()
            cur.execute("SELECT version, name, checksum FROM timebase_migrations ORDER BY version")
            applied = {int(v): (str(n), str(c)) for v, n, c in cur.fetchall()}
            conn.commit()
            _check_applied(applied, migrations)
            for migration in migrations:
                if migration.version in applied:
                    continue
                # executescript runs the file (several statements) inside the open transaction.
                try:
                    cur.executescript(migration.sql)
                except adbc_driver_manager.Error as exc:
                    raise database_error(exc, f"migration {migration.path.name} failed") from exc
                cur.execute(
                    "INSERT INTO timebase_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    parameters=(migration.version, migration.name, migration.checksum),
                )
                conn.commit()
                applied_now.append(migration)
                _log.info(
                    "applied migration %04d_%s",
                    migration.version,
                    migration.name,
                    extra={"migration": migration.version},
                )
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.execute(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            cur.fetchall()
            conn.commit()
    return applied_now


def _check_applied(applied: dict[int, tuple[str, str]], migrations: list[Migration]) -> None:
    known = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise DatabaseError(
                f"the database has migration {version:04d}_{name} applied, which this TimeBase "
                "does not know: it was created by a newer version",
                version=version,
            )
        if migration.checksum != checksum:
            raise DatabaseError(
                f"migration {migration.path.name} was changed after it was applied "
                f"(checksum {migration.checksum[:12]}…, recorded {checksum[:12]}…); "
                "restore the file and add a new migration instead",
                version=version,
            )


async def migrate(pool: ConnectionPool, directory: Path | None = None) -> list[Migration]:
    """Apply every pending migration; return the ones applied now (in order)."""
    async with pool.connection() as conn:
        return await conn.run(
            lambda c: apply_migrations(c, discover(directory)),
            doing="applying database migrations",
            transaction=False,
        )
