"""The per-request version lookup on the event loop: one round trip, no thread, nothing to commit.

    reader = VersionReader(pool)
    found = await reader.read("AAPL", ["1d"], started=lambda: None)   # {SeriesKey: version}
    found = await reader.read(["AAPL", "MSFT"], ["1d"], started=lambda: None)   # both at once
    # None: the reader was busy or could not serve it: look the versions up through the pool
    await reader.close()

Every cached answer starts with the lookup of its series' versions (`cached_reads.snapshot`).
Through the ADBC pool it is a transaction run on a pool thread: the statement prepared, run,
then COMMIT and the driver's next BEGIN, each a round trip, and two hops between the event loop
and the thread (measured: 300-550 µs a lookup on the loaded 2-core machine). Here it is one
prepared statement on one autocommit psycopg 3 connection (asynchronous: the event loop waits
on its socket; ≈ 100-120 µs). A single statement needs no transaction: it sees every write
committed before it, exactly like the pool's read.

psycopg 3 is the driver issue #14 chose for what ADBC cannot do (LISTEN/NOTIFY): a well-kept
libpq binding with an asyncio API; ADBC has none.

One lookup at a time: the store sends its lookups one batch after the other, the requests that
arrive while one runs gathered into the next (`cached_reads`); a lookup asked while the reader
is busy anyway goes through the pool, so the reader never queues requests. Any error (the connection lost, the server restarting) closes the
connection and answers None: the pool's path then gives the error, or the answer, as before;
the next lookup connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import psycopg

from timebase.store import versions
from timebase.store.bars import SeriesKey
from timebase.store.pool import ConnectionPool

_log = logging.getLogger(__name__)

#: The lookup of `versions.series_versions` for several symbols at once (symbols, intervals: every
#: series of each symbol at each interval), prepared once on the connection.
SQL = f'{versions.SELECT_VERSIONS} WHERE symbol = ANY(%s) AND "interval" = ANY(%s)'
#: Seconds to connect before the lookup goes through the pool instead.
CONNECT_TIMEOUT = 5.0
#: Seconds after a failed connect during which lookups go through the pool without trying again
#: (no request waits for a connect that keeps failing).
RECONNECT_AFTER = 10.0


class VersionReader:
    """Version lookups on one asynchronous autocommit connection (see the module doc)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        #: Lookups answered here (the rest went through the pool), for tests.
        self.lookups = 0
        self._conn: psycopg.AsyncConnection[Any] | None = None
        #: Connects tried (for tests).
        self.connects = 0
        self._busy = False
        self._connect_after = 0.0
        self._closing: set[asyncio.Task[None]] = set()

    async def read(
        self, symbols: str | Iterable[str], intervals: Iterable[str], started: Callable[[], None]
    ) -> dict[SeriesKey, int] | None:
        """The versions of the series of `symbols` (one or several) at `intervals` (as
        `versions.series_versions` of each symbol); `started()` is called just before the query
        is sent. None: ask the pool."""
        names = [symbols] if isinstance(symbols, str) else sorted(set(symbols))
        if self._busy or not self.pool.running or self.pool.suspended is not None:
            return None
        loop = asyncio.get_running_loop()
        if self._conn is None and loop.time() < self._connect_after:
            return None
        self._busy = True
        try:
            if self._conn is None:
                self.connects += 1
                self._connect_after = loop.time() + RECONNECT_AFTER  # until it succeeds
                self._conn = await asyncio.wait_for(
                    psycopg.AsyncConnection.connect(self.pool.url, autocommit=True),
                    CONNECT_TIMEOUT,
                )
                self._connect_after = 0.0
            conn = self._conn
            assert conn is not None
            started()
            cur = await conn.execute(SQL, (names, sorted(set(intervals))), prepare=True)
            rows = await cur.fetchall()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            first_line = next(iter(str(exc).splitlines()), type(exc).__name__)
            _log.info("version lookup goes through the pool: %s", first_line)
            self._drop()
            return None
        except BaseException:
            self._drop()  # cancelled mid-query: the connection's state is unknown
            raise
        finally:
            self._busy = False
        self.lookups += 1
        return {SeriesKey(s, i, p): int(v) for s, i, p, v in rows}

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            task = asyncio.get_running_loop().create_task(_close_quietly(conn))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close the connection (the store is stopping; a later lookup connects again)."""
        self._drop()
        for task in list(self._closing):
            await task


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await conn.close()
