"""Per-series fetch leases held across every gateway on one database.

    leases = SeriesLeases(url)
    async with leases.hold("AAPL", "1d"):     # waits while another gateway holds it
        ...                                   # read coverage, fetch what is missing, store it
    await leases.close()

A lease is a PostgreSQL session advisory lock (two-key form: a TimeBase class id and
`hashtext(symbol|interval)`), taken on one dedicated autocommit connection per gateway with
`pg_try_advisory_lock` and polled with a capped backoff while another session holds it. Polling
keeps the single connection free for every other series: one lease never waits behind another.
The lock lives as long as the session, so a gateway that dies (SIGKILL, lost host) releases its
leases the moment PostgreSQL notices the connection is gone. Two series whose keys collide only
wait for each other. Within one process the caller serialises a series first (session locks are
re-entrant), so the lease only orders processes.

A request's version snapshot (`metadata_cache`) is taken before it waits for the lease, and
another request, here or on another gateway, may fill the series meanwhile: once granted, the lease
reads the series' versions again (one indexed lookup on the lease connection) into the snapshot,
so coverage read under the lease is never older than the last fill, and no range is fetched twice.

A lost connection is reopened at the next lease; a lease whose connection died while held was
released by the server (the unlock is then a no-op). While the database is unreachable a lease
fails as the store's own calls do: a DatabaseError with `retry_after` (the pool's error at once
while the pool is suspended).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import adbc_driver_manager

from timebase.sdk.errors import DatabaseError
from timebase.store import adbc, metadata_cache, versions
from timebase.store.bars import SeriesKey, normalize_symbol
from timebase.store.pool import (
    CONNECTION_LOST_RETRY_AFTER,
    Connection,
    ConnectionPool,
    database_error,
    in_thread,
    redact_url,
)

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: The first key of every series lease ("TBSL" in ASCII; an int4, a lock space of its own).
LEASE_CLASS = 0x5442534C
#: First and longest pause between two attempts at a lease another gateway holds (seconds).
FIRST_POLL = 0.01
MAX_POLL = 0.2


def lease_name(symbol: str, interval: str) -> str:
    """The text hashed into a series' lease key."""
    return f"{symbol}|{interval}"


class SeriesLeases:
    """Per-series advisory-lock leases on a dedicated connection to `url` (opened lazily)."""

    def __init__(
        self, url: str, *, pool: ConnectionPool | None = None, max_poll: float = MAX_POLL
    ) -> None:
        self.url = url
        #: The store's pool: while it is suspended (the database is known to be down), a lease
        #: fails at once with its error.
        self.pool = pool
        self.max_poll = max_poll
        self._conn: Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        #: Lease names this session holds now (only touched on the lease thread).
        self._held: set[str] = set()
        #: Leases granted, and attempts that found the lease held elsewhere (for tests, metrics).
        self.granted = 0
        self.contended = 0
        #: Leases granted only after waiting for another session, and the seconds spent waiting
        #: (`/metrics`: timebase_fetch_lease_waits_total, _wait_seconds_total).
        self.waited = 0
        self.wait_seconds = 0.0

    @contextlib.asynccontextmanager
    async def hold(self, symbol: str, interval: str) -> AsyncIterator[None]:
        """Hold the lease of (symbol, interval) for the block (waiting until it is free)."""
        name = lease_name(symbol, interval)
        if self.pool is not None and self.pool.suspended is not None:
            raise self.pool.suspended
        executor = self._ensure_executor()
        delay = FIRST_POLL
        began: float | None = None
        try:
            try:
                while not await in_thread(executor, self._try_lock, name):
                    self.contended += 1
                    if began is None:
                        began = time.monotonic()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_poll)
            finally:
                if began is not None:  # waited (granted, cancelled or failed): counted
                    self.waited += 1
                    self.wait_seconds += time.monotonic() - began
            self.granted += 1
            snapshot = metadata_cache.current()
            if (
                snapshot is not None
                and interval in snapshot.intervals
                and snapshot.symbol == normalize_symbol(symbol)
            ):  # what was written since the snapshot was taken (module docstring)
                found = await in_thread(executor, self._versions, snapshot.symbol, interval)
                snapshot.refreshed(interval, found)
            yield
        finally:
            # in_thread waits for the thread even when cancelled: `_held` is up to date here.
            if name in self._held:
                await in_thread(executor, self._unlock, name)

    async def close(self) -> None:
        """Close the lease connection (releasing every lease it holds)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        await in_thread(executor, self._close)
        await asyncio.to_thread(executor.shutdown, True)

    # -- on the lease thread ------------------------------------------------------------------

    def _ensure_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="timebase-lease")
        return self._executor

    def _connection(self) -> Connection:
        if self._conn is None:
            try:
                self._conn = adbc.connect(self.url, autocommit=True)
            except adbc_driver_manager.Error as exc:
                lines = str(exc).strip().splitlines()
                detail = re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", lines[0] if lines else "")
                raise DatabaseError(
                    f"taking a series fetch lease: cannot connect to PostgreSQL at "
                    f"{redact_url(self.url)} ({detail}); try again shortly",
                    retry_after=CONNECTION_LOST_RETRY_AFTER,
                ) from None
        return self._conn

    def _run(self, query: Callable[[Connection], T]) -> T:
        conn = self._connection()
        try:
            return query(conn)
        except adbc_driver_manager.Error as exc:
            self._close()  # its leases died with it; the next call reconnects
            error = database_error(exc, "taking a series fetch lease")
            if error.retry_after is None:  # whatever broke, a new connection is tried next
                error = DatabaseError(str(error), retry_after=CONNECTION_LOST_RETRY_AFTER)
            raise error from exc

    def _scalar(self, sql: str, name: str) -> bool:
        def query(conn: Connection) -> bool:
            with conn.cursor() as cur:
                cur.execute(sql, parameters=(name,))
                row = cur.fetchone()
            return bool(row and row[0])

        return self._run(query)

    def _versions(self, symbol: str, interval: str) -> dict[SeriesKey, int]:
        return self._run(lambda conn: versions.series_versions(conn, symbol, [interval]))

    def _try_lock(self, name: str) -> bool:
        got = self._scalar(f"SELECT pg_try_advisory_lock({LEASE_CLASS}, hashtext($1))", name)
        if got:
            self._held.add(name)
        return got

    def _unlock(self, name: str) -> None:
        self._held.discard(name)
        if self._conn is None:  # the connection died: the server released the lock
            return
        try:
            self._scalar(f"SELECT pg_advisory_unlock({LEASE_CLASS}, hashtext($1))", name)
        except Exception:  # lost with the connection: released by the server
            _log.warning("could not release the fetch lease of %s", name, exc_info=True)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            with contextlib.suppress(adbc_driver_manager.Error):
                conn.close()
