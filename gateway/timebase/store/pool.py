"""A pool of ADBC PostgreSQL connections for concurrent readers and writers.

ADBC calls block, so every call runs on the pool's own threads, never on the event loop. Work is
handed over as a plain function of a connection (`await pool.run(fn)`), which runs in one
transaction: committed when `fn` returns, rolled back when it raises. Driver errors come out as
`DatabaseError` with the SQLSTATE in `details`.

Waiting for a free connection is bounded (`acquire_timeout`, `database.acquire_timeout_seconds`):
then `DatabaseBusy` (503 with Retry-After). A task cancelled while its work runs on a pool thread
(a client that went away) waits for that work to end before the connection goes back to the
pool: a connection is never handed out while a thread still uses it.

Recovery: a connection whose server went away (the server restarted, or crashed) is closed
instead of returned, and so is every idle connection opened before it: they went to the same
server. The next request opens fresh ones, so TimeBase recovers from a database restart without
a restart of its own. A lost connection's `DatabaseError` carries `retry_after`. While the embedded
server is known to be down, `suspend(error)` answers every request at once with that error (no
attempt to connect) until `resume()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import adbc_driver_manager

from timebase.sdk.errors import DatabaseBusy, DatabaseError, TimeBaseError
from timebase.store.adbc import Connection, connect

_log = logging.getLogger(__name__)

__all__ = [
    "Connection",
    "ConnectionPool",
    "PooledConnection",
    "database_error",
    "redact_url",
    "sqlstate",
]

T = TypeVar("T")


#: SQLSTATEs worth retrying the whole transaction for: serialization failure, deadlock.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
#: SQLSTATEs of a server going away: admin shutdown, crash shutdown, cannot connect now.
_SERVER_GONE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
#: `retry_after` of a lost connection's error: about how long a restarting server takes.
CONNECTION_LOST_RETRY_AFTER = 2.0


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***` (in the authority and in the query string)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable database URL>"
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="/*"
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of an ADBC error, if it carries one."""
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state:
        return state
    match = re.search(r"SQLSTATE: ([0-9A-Z]{5})", str(exc))
    return match.group(1) if match else None


def connection_lost(exc: BaseException) -> bool:
    """Whether a driver error means the connection to the server is gone (not a bad query)."""
    state = sqlstate(exc)
    if state is not None and (state.startswith("08") or state in _SERVER_GONE_SQLSTATES):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(exc, adbc_driver_manager.OperationalError) and (
        status == adbc_driver_manager.AdbcStatusCode.IO
    )


def database_error(exc: BaseException, doing: str) -> DatabaseError:
    """A DatabaseError for a driver error raised while `doing` something."""
    message = str(exc).strip()
    # The driver appends the whole query; keep the first lines, which say what went wrong.
    message = message.split("\n\nQuery was:")[0].split(". SQLSTATE:")[0]
    message = re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", message)
    if connection_lost(exc):
        message = " ".join(message.split())  # libpq's message spans lines
        return DatabaseError(
            f"{doing}: the connection to the database was lost ({message}); try again shortly",
            retry_after=CONNECTION_LOST_RETRY_AFTER,
            sqlstate=sqlstate(exc),
        )
    return DatabaseError(f"{doing}: {message}", sqlstate=sqlstate(exc))


class ConnectionPool:
    """Up to `size` ADBC connections to one database, opened on demand and reused."""

    def __init__(self, url: str, *, size: int = 8, acquire_timeout: float = 10.0) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.url = url
        self.size = size
        #: How long `connection()` waits for a free connection before DatabaseBusy.
        self.acquire_timeout = acquire_timeout
        #: Connections leased right now.
        self.in_use = 0
        #: Callers waiting in `_acquire` for a connection because all `size` are leased.
        self.waiting = 0
        self._first: Connection | None = None
        self._idle: list[Connection] = []
        self._opened = 0
        self._executor: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        #: Bumped whenever the server went away: connections of an older one are not reused.
        self._generation = 0
        self._suspended: DatabaseError | None = None

    @property
    def running(self) -> bool:
        return self._executor is not None

    @property
    def suspended(self) -> DatabaseError | None:
        """The error every request gets while the database is known to be down (else None)."""
        return self._suspended

    def suspend(self, error: DatabaseError) -> None:
        """Answer every request with `error`, without trying the database, until `resume()`."""
        self._suspended = error

    async def resume(self) -> None:
        """The database is back: drop every connection to the old server, serve again."""
        await self.reset()
        self._suspended = None

    async def reset(self) -> None:
        """Close the idle connections; the ones in use are closed when they come back."""
        self._generation += 1
        idle, self._idle = self._idle, []
        executor = self._executor
        if executor is None:
            return
        for conn in idle:
            self._forget(conn)
            await in_thread(executor, _close_quietly, conn)

    async def start(self) -> None:
        """Open the first connection (fails here, clearly, when the database is unreachable)."""
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(self.size, thread_name_prefix="timebase-db")
        try:
            self._first = await asyncio.get_running_loop().run_in_executor(executor, self._connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor
        self._slots = asyncio.Semaphore(self.size)
        self._idle = [self._first]
        self._opened = 1

    async def stop(self) -> None:
        """Close every idle connection; connections in use are closed when they come back."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        idle, self._idle = self._idle, []
        # The connection `start()` opened owns the shared ADBC database: close it last.
        idle.sort(key=lambda conn: conn is self._first)
        for conn in idle:
            await in_thread(executor, _close_quietly, conn)
        await asyncio.to_thread(executor.shutdown, True)
        self._first = None
        self._opened = 0

    def _connect(self) -> Connection:
        try:
            return connect(self.url)
        except adbc_driver_manager.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            detail = re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", detail)
            raise DatabaseError(
                f"cannot connect to PostgreSQL at {redact_url(self.url)}: {detail}",
                retry_after=CONNECTION_LOST_RETRY_AFTER,
                url=redact_url(self.url),
            ) from None

    def _open_more(self) -> Connection:
        if self._first is None:
            self._first = self._connect()
            return self._first
        try:
            return self._first.adbc_clone()
        except adbc_driver_manager.Error:
            return self._connect()

    def _keep(self, conn: Connection) -> None:
        """A connection opened for a caller cancelled meanwhile: idle, for the next one."""
        self._opened += 1
        self._idle.append(conn)

    def _forget(self, conn: Connection) -> None:
        """`conn` is being closed: count it out (and open a new first one next time)."""
        self._opened -= 1
        if conn is self._first:
            self._first = None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[PooledConnection]:
        """Check out one connection for a sequence of `run` calls (one transaction each)."""
        executor, slots = self._executor, self._slots
        if executor is None or slots is None:
            raise DatabaseError("the database connection pool is not running")
        if self._suspended is not None:
            raise self._suspended
        await self._acquire(slots)
        self.in_use += 1
        try:
            if self._suspended is not None:
                raise self._suspended
            conn = self._idle.pop() if self._idle else None
            generation = self._generation
            if conn is None:
                conn = await in_thread(executor, self._open_more, abandoned=self._keep)
                self._opened += 1
            leased = PooledConnection(conn, executor)
            try:
                yield leased
            finally:
                if leased.broken or self._executor is None or generation != self._generation:
                    self._forget(conn)
                    if leased.broken and generation == self._generation:
                        # Its server went away: so did every idle connection's.
                        await self.reset()
                    await in_thread(executor, _close_quietly, conn)
                else:
                    self._idle.append(conn)
        finally:
            self.in_use -= 1
            slots.release()

    async def _acquire(self, slots: asyncio.Semaphore) -> None:
        if not slots.locked():
            await slots.acquire()  # a free slot: taken at once, without waiting
            return
        self.waiting += 1
        try:
            async with asyncio.timeout(self.acquire_timeout):
                await slots.acquire()
        except TimeoutError:
            raise DatabaseBusy(
                f"no database connection became free within {self.acquire_timeout:g} s (all "
                f"{self.size} in use; database.pool_size, database.acquire_timeout_seconds); "
                "try again later",
                retry_after=min(self.acquire_timeout, 5.0),
                pool_size=self.size,
            ) from None
        finally:
            self.waiting -= 1

    async def run(self, fn: Callable[[Connection], T], *, doing: str = "database operation") -> T:
        """Run `fn(connection)` on a pool thread in one transaction; return its result."""
        async with self.connection() as conn:
            return await conn.run(fn, doing=doing)


class PooledConnection:
    """A checked-out connection; `run` executes work on it in the pool's threads."""

    def __init__(self, conn: Connection, executor: ThreadPoolExecutor) -> None:
        self.raw = conn
        self.executor = executor
        self.broken = False

    async def run(
        self,
        fn: Callable[[Connection], T],
        *,
        doing: str = "database operation",
        transaction: bool = True,
        retries: int = 2,
    ) -> T:
        """Run `fn(connection)` in a pool thread; with `transaction`, commit or roll back after.

        Deadlocks and serialization failures are retried up to `retries` times.
        """
        call = functools.partial(self._call, fn, doing, transaction)
        attempt = 0
        while True:
            try:
                return await in_thread(self.executor, call)
            except DatabaseError as exc:
                if attempt >= retries or exc.details.get("sqlstate") not in RETRYABLE_SQLSTATES:
                    raise
                attempt += 1
                _log.info("retrying after %s", exc.details["sqlstate"], extra={"doing": doing})

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking `fn(*args)` (e.g. reading the next batch) in a pool thread."""
        return await in_thread(self.executor, fn, *args)

    def _call(self, fn: Callable[[Connection], T], doing: str, transaction: bool) -> T:
        conn = self.raw
        try:
            result = fn(conn)
            if transaction:
                conn.commit()
            return result
        except adbc_driver_manager.Error as exc:
            self._rollback()
            if connection_lost(exc):
                self.broken = True
            raise database_error(exc, doing) from exc
        except BaseException:
            self._rollback()
            raise

    def end_read(self) -> None:
        """End a read transaction run on the calling thread (rolled back; a connection that
        cannot roll back is marked broken, so the pool closes it)."""
        self._rollback()

    def _rollback(self) -> None:
        try:
            self.raw.rollback()
        except adbc_driver_manager.Error:
            self.broken = True


async def in_thread(
    executor: ThreadPoolExecutor,
    fn: Callable[..., T],
    *args: Any,
    abandoned: Callable[[T], None] | None = None,
) -> T:
    """`fn(*args)` on a pool thread. Cancelled meanwhile, it still waits for the thread to end
    (a thread cannot be interrupted) before the cancellation goes on: whatever `fn` uses (a
    connection) is free again when the caller's cleanup runs; what `fn` returned after all goes
    to `abandoned` (e.g. a connection opened meanwhile, kept for the next caller)."""
    future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled() and future.exception() is None and abandoned is not None:
            abandoned(future.result())
        raise


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(adbc_driver_manager.Error, TimeBaseError):
        conn.close()
