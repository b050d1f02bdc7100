"""Stored bars read on a thread that is not the event loop's (Arrow Flight's call threads).

    with thread_reader(store.pool, call, release) as reader:   # leases a pooled connection
        for batch in reader.batches(query):                     # blocking ADBC reads, streamed
            ...

The pool lives on the event loop, so the connection is leased and returned there: `call` runs a
coroutine on the loop and waits for it (it may refuse, e.g. while shutting down); `release`
does the same for giving the connection back and must not refuse. The reads themselves block the
calling thread, streaming record batches from the database without Python work per row. The
read transaction ends (rolled back) before the connection goes back to the pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any, Protocol, TypeVar

import adbc_driver_manager
import pyarrow as pa

from timebase.store.bars import BarQuery, open_bar_reader
from timebase.store.pool import ConnectionPool, PooledConnection, database_error
from timebase.store.schema import BAR_SCHEMA

T = TypeVar("T")

#: How long a reading thread waits for the event loop to lease or return a connection.
LEASE_TIMEOUT = 60.0


class LoopCall(Protocol):
    """Run a coroutine on the event loop from another thread and wait (at most `timeout`)."""

    def __call__(self, coro: Coroutine[Any, Any, T], timeout: float) -> T: ...


class LoopRelease(Protocol):
    """Like `LoopCall`, for giving back what a call holds: must not refuse; result unused."""

    def __call__(self, coro: Coroutine[Any, Any, Any], timeout: float) -> object: ...


class BarReader(Protocol):
    """Blocking reads of stored bars: `ThreadBarReader`, or `HotBarReader` through the hot tier."""

    def prepare(self, queries: Iterable[BarQuery]) -> None: ...

    def batches(self, query: BarQuery) -> Iterator[pa.RecordBatch]: ...

    def table(self, queries: list[BarQuery]) -> pa.Table: ...


class ThreadBarReader:
    """Blocking reads over one leased connection (see the module docstring)."""

    def __init__(self, conn: PooledConnection) -> None:
        self._conn = conn

    def batches(self, query: BarQuery) -> Iterator[pa.RecordBatch]:
        """The bars of `query` as record batches, straight from the ADBC reader."""
        try:
            yield from open_bar_reader(self._conn.raw, query)
        except adbc_driver_manager.Error as exc:
            self._conn.broken = True
            raise database_error(exc, "reading bars") from exc

    def prepare(self, queries: Iterable[BarQuery]) -> None:
        """Nothing to prepare (`HotBarReader` looks up series versions here)."""

    def table(self, queries: list[BarQuery]) -> pa.Table:
        """The bars of `queries`, in order, as one table."""
        return pa.Table.from_batches(
            [b for q in queries for b in self.batches(q)], schema=BAR_SCHEMA
        )


@contextlib.contextmanager
def thread_reader(
    pool: ConnectionPool, call: LoopCall, release: LoopRelease
) -> Iterator[ThreadBarReader]:
    """A `ThreadBarReader` over a connection leased from `pool` through the loop."""
    lease = pool.connection()
    conn = call(lease.__aenter__(), LEASE_TIMEOUT)
    try:
        yield ThreadBarReader(conn)
    finally:
        conn.end_read()
        with contextlib.suppress(Exception):
            release(lease.__aexit__(None, None, None), LEASE_TIMEOUT)
