"""Stored bars read on a thread that is not the event loop's (Arrow Flight's call threads).

    with thread_reader(store.pool, call, release) as reader:   # leases a pooled connection
        for batch in reader.batches(query):                     # blocking ADBC reads, streamed
            ...

The pool lives on the event loop, so the connection is leased and returned there: `call` runs a
coroutine on the loop and waits for it (it may refuse, e.g. while shutting down); `release`
does the same for giving the connection back and must not refuse. The reads themselves block the
calling thread, streaming record batches from the database without Python work per row. The
read transaction ends (rolled back) before the connection goes back to the pool.

Large reads are tuned for streaming (issue #14 item 5):

- a query of one provider's series is answered in its primary key's order, so it is read in
  that order: the transaction turns `enable_sort` off (`SET LOCAL`: one statement per reader,
  and one more to turn it back on for a query of several providers).
  The planner's per-column statistics cannot see that a symbol's bars are stored in time
  order (the timestamps of all symbols interleave), so for a part of a series it often chose a
  bitmap heap scan and a sort of every row: nothing streams until the sort is done;
- the driver cuts batches of about `BATCH_BYTES` (its default is 16 MiB), so the Flight
  stream starts sooner and the database, the gateway and the client work at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any, Protocol, TypeVar

import adbc_driver_manager
import pyarrow as pa

from timebase.store.adbc import Cursor
from timebase.store.bars import BarQuery, open_bar_reader
from timebase.store.pool import ConnectionPool, PooledConnection, database_error
from timebase.store.schema import BAR_SCHEMA

T = TypeVar("T")

#: How long a reading thread waits for the event loop to lease or return a connection.
LEASE_TIMEOUT = 60.0
#: About how many bytes of rows the driver puts in one record batch.
BATCH_BYTES = 4 << 20
#: The ADBC PostgreSQL statement option setting that size.
_BATCH_OPTION = "adbc.postgresql.batch_size_hint_bytes"


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
        self._sort_off = False

    def batches(self, query: BarQuery) -> Iterator[pa.RecordBatch]:
        """The bars of `query` as record batches, straight from the ADBC reader."""
        try:

            def prepare(cur: Cursor) -> None:
                if key_ordered(query) != self._sort_off:
                    self._sort_off = not self._sort_off
                    cur.execute(f"SET LOCAL enable_sort = {'off' if self._sort_off else 'on'}")
                cur.set_options(**{_BATCH_OPTION: str(BATCH_BYTES)})

            yield from open_bar_reader(self._conn.raw, query, prepare=prepare)
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


def key_ordered(query: BarQuery) -> bool:
    """Whether the primary key's order (symbol, interval, provider, ts) is `query`'s answer
    order (symbol, ts, provider): one interval and one provider, no per-symbol limit."""
    return query.provider is not None and query.limit is None


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
