"""ADBC PostgreSQL connections on the driver manager's low-level API, without dataframe libraries.

`adbc_driver_manager.dbapi` (the DB-API module, and `adbc_driver_postgresql.dbapi` on top of it)
imports polars as an optional result backend and `pyarrow.dataset`, which imports pandas, whenever
they are installed: about 90 MB of a gateway's memory for nothing it uses (docs/benchmarks.md).
This module is the part of DB-API the store uses, built on what those modules are built on (the
driver manager's `AdbcDatabase`, `AdbcConnection` and `AdbcStatement`, and pyarrow's C stream
import), with the same behaviour: statements prepared before they run, results as Arrow streams
whose errors carry the driver's SQLSTATE, `rowcount` as the driver reports it, a transaction
open until `commit()`/`rollback()` unless `autocommit`, clones sharing one `AdbcDatabase`.

    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchall()                   # [(1,)]

Errors are the driver manager's (`adbc_driver_manager.Error` and its subclasses), as before.
tests/server/test_imports.py checks that `timebase serve` imports neither pandas nor polars.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import adbc_driver_manager
import adbc_driver_postgresql
import pyarrow as pa
from adbc_driver_manager import _lib, _reader

__all__ = ["Connection", "Cursor", "connect"]

IngestMode = Literal["append", "create", "replace", "create_append"]
_INGEST_MODES: dict[str, str] = {
    "append": _lib.INGEST_OPTION_MODE_APPEND,
    "create": _lib.INGEST_OPTION_MODE_CREATE,
    "create_append": _lib.INGEST_OPTION_MODE_CREATE_APPEND,
    "replace": _lib.INGEST_OPTION_MODE_REPLACE,
}
_BIND_BY_NAME = adbc_driver_manager.StatementOptions.BIND_BY_NAME.value
_TEMPORARY = adbc_driver_manager.StatementOptions.INGEST_TEMPORARY.value


class _SharedDatabase:
    """One `AdbcDatabase` shared by a connection and its clones: closed with the last of them."""

    def __init__(self, db: adbc_driver_manager.AdbcDatabase) -> None:
        self.db = db
        self._users = 1
        self._lock = threading.Lock()

    def acquire(self) -> Self:
        with self._lock:
            self._users += 1
        return self

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last:
            self.db.close()


def connect(url: str, *, autocommit: bool = False) -> Connection:
    """A connection to the PostgreSQL server at `url` (a libpq URI)."""
    db = adbc_driver_postgresql.connect(url)
    try:
        conn = adbc_driver_manager.AdbcConnection(db)
    except BaseException:
        db.close()
        raise
    return Connection(_SharedDatabase(db), conn, autocommit=autocommit)


class Connection:
    """A database connection (DB-API's subset the store uses, plus `adbc_clone`)."""

    def __init__(
        self,
        db: _SharedDatabase,
        conn: adbc_driver_manager.AdbcConnection,
        *,
        autocommit: bool,
    ) -> None:
        self._db = db
        self._conn = conn
        self._closed = False
        self._cursors: set[Cursor] = set()
        self.autocommit = autocommit
        try:
            if not autocommit:
                conn.set_autocommit(False)
        except BaseException:
            self.close()
            raise

    def cursor(self) -> Cursor:
        cursor = Cursor(self)
        self._cursors.add(cursor)
        return cursor

    def commit(self) -> None:
        if not self.autocommit:
            self._conn.commit()

    def rollback(self) -> None:
        if not self.autocommit:
            self._conn.rollback()

    def adbc_clone(self) -> Connection:
        """A new connection to the same database (sharing its `AdbcDatabase`)."""
        db = self._db.acquire()
        try:
            conn = adbc_driver_manager.AdbcConnection(db.db)
        except BaseException:
            db.release()
            raise
        # If it fails, Connection closes `conn` and releases `db` itself.
        return Connection(db, conn, autocommit=self.autocommit)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for cursor in list(self._cursors):
                cursor.close()
            self._conn.close()
        finally:
            self._db.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Cursor:
    """One statement on a connection: execute SQL, then read its result as Arrow or rows."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stmt = adbc_driver_manager.AdbcStatement(conn._conn)
        self._closed = False
        self._last_sql: str | None = None
        self._handle: Any = None  # the result's ArrowArrayStreamHandle, not imported yet
        self._reader: Any = None  # the imported AdbcRecordBatchReader
        self._rowcount = -1
        self._bind_by_name = False
        #: Rows of a batch `fetchone` has started, in reverse order.
        self._rows: list[tuple[Any, ...]] = []

    @property
    def rowcount(self) -> int:
        """Rows the last statement affected or returned, as the driver reports it (-1: unknown)."""
        return self._rowcount

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        """(name, type, None, None, None, None, None) per result column; None before execute."""
        if self._handle is None and self._reader is None:
            return None
        return [(f.name, f.type, None, None, None, None, None) for f in self._result().schema]

    def execute(
        self,
        sql: str,
        parameters: Sequence[Any] | Mapping[str, Any] | pa.RecordBatch | None = None,
    ) -> Self:
        """Run `sql`; `parameters` bind `$1`, `$2`, … (a sequence, or a one-row record batch
        whose columns are typed: e.g. jsonb text, timestamps) or names (a mapping)."""
        self._clear()
        if sql != self._last_sql:
            self._stmt.set_sql_query(sql)
            self._last_sql = sql
            with contextlib.suppress(adbc_driver_manager.NotSupportedError):  # not every driver
                self._stmt.prepare()
        if isinstance(parameters, pa.RecordBatch):
            self._stmt.bind(parameters)
            if self._bind_by_name:
                self._stmt.set_options(**{_BIND_BY_NAME: "false"})
                self._bind_by_name = False
        elif parameters:
            by_name = isinstance(parameters, Mapping)
            if isinstance(parameters, Mapping):
                batch = pa.record_batch({str(k): [v] for k, v in parameters.items()})
            else:
                names = [str(i) for i in range(len(parameters))]
                batch = pa.record_batch([[value] for value in parameters], names=names)
            self._stmt.bind(batch)
            if by_name != self._bind_by_name:
                self._stmt.set_options(**{_BIND_BY_NAME: "true" if by_name else "false"})
                self._bind_by_name = by_name
        self._handle, self._rowcount = self._stmt.execute_query()
        return self

    def set_options(self, **options: str) -> None:
        """Set driver options of this cursor's statement (e.g. the PostgreSQL driver's
        `adbc.postgresql.batch_size_hint_bytes`) for the statements it runs next."""
        self._stmt.set_options(**options)

    def executescript(self, sql: str) -> None:
        """Run several statements (no result); commits the open transaction first, as DB-API."""
        self._clear()
        self._conn.commit()
        self._last_sql = None
        self._stmt.set_sql_query(sql)
        self._rowcount = self._stmt.execute_update()

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every remaining row, as tuples of Python values."""
        rows, self._rows = self._rows[::-1], []
        for batch in self._result():
            rows += zip(*(column.to_pylist() for column in batch.columns), strict=True)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None after the last."""
        if not self._rows:
            reader = self._result()
            while not self._rows:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return None
                self._rows = list(
                    zip(*(column.to_pylist() for column in batch.columns), strict=True)
                )
            self._rows.reverse()
        return self._rows.pop()

    def fetch_arrow_table(self) -> pa.Table:
        table: pa.Table = self._result().read_all()
        return table

    def fetch_record_batch(self) -> pa.RecordBatchReader:
        """The result as a stream of record batches (pyarrow's own reader, as DB-API gives)."""
        reader: pa.RecordBatchReader = self._result()._reader
        return reader

    def adbc_ingest(
        self,
        table_name: str,
        data: pa.Table | pa.RecordBatch | pa.RecordBatchReader,
        mode: IngestMode = "create",
        *,
        temporary: bool = False,
    ) -> int:
        """Bulk-load `data` into `table_name` (COPY); rows written, or -1 when unknown."""
        self._clear()
        self._last_sql = None
        self._stmt.set_options(
            **{
                _lib.INGEST_OPTION_TARGET_TABLE: table_name,
                _lib.INGEST_OPTION_MODE: _INGEST_MODES[mode],
                _TEMPORARY: "true" if temporary else "false",
            }
        )
        if isinstance(data, pa.RecordBatch):
            self._stmt.bind(data)
        else:
            self._stmt.bind_stream(data)
        count: int = self._stmt.execute_update()
        self._rowcount = count
        return count

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._clear()
        self._stmt.close()
        self._conn._cursors.discard(self)

    def _result(self) -> Any:
        if self._reader is None:
            if self._handle is None:
                raise adbc_driver_manager.ProgrammingError(
                    "no result: execute() a query first (or the result was closed)",
                    status_code=adbc_driver_manager.AdbcStatusCode.INVALID_STATE,
                )
            handle, self._handle = self._handle, None
            self._reader = _reader.AdbcRecordBatchReader._import_from_c(handle.address)
        return self._reader

    def _clear(self) -> None:
        self._rows = []
        reader, self._reader = self._reader, None
        handle, self._handle = self._handle, None
        if reader is not None:
            reader.close()
        elif handle is not None:
            handle.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
