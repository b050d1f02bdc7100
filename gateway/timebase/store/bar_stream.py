"""A stream of one bar query's record batches, read from a pooled connection while consumed
(`Store.read`)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterator
from types import TracebackType

import pyarrow as pa

from timebase.store import bars
from timebase.store.bars import BarQuery
from timebase.store.pool import Connection, ConnectionPool, PooledConnection
from timebase.store.schema import BAR_SCHEMA


class BarStream:
    """Bars of one query as a stream of record batches, read while being consumed.

    Use `async with store.read(...) as stream: async for batch in stream: ...`; the pooled
    connection is held until the stream is exhausted or closed.
    """

    schema = BAR_SCHEMA

    def __init__(self, pool: ConnectionPool, query: BarQuery) -> None:
        self.pool = pool
        self.query = query
        self._lease: contextlib.AbstractAsyncContextManager[PooledConnection] | None = None
        self._conn: PooledConnection | None = None
        self._batches: Iterator[pa.RecordBatch] | None = None

    async def open(self) -> BarStream:
        if self._conn is None:
            self._lease = self.pool.connection()
            self._conn = await self._lease.__aenter__()
            try:
                self._batches = bars.open_bar_reader(self._conn.raw, self.query)
            except BaseException:
                await self.aclose()
                raise
        return self

    async def aclose(self) -> None:
        conn, lease, batches = self._conn, self._lease, self._batches
        self._conn = self._lease = self._batches = None
        if conn is None or lease is None:
            return
        try:
            await conn.run(lambda c: _close(batches), doing="closing a bar stream")
        finally:
            await lease.__aexit__(None, None, None)

    async def __aenter__(self) -> BarStream:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[pa.RecordBatch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[pa.RecordBatch]:
        await self.open()
        try:
            while True:
                batches = self._batches
                conn = self._conn
                if batches is None or conn is None:
                    return
                batch = await conn.run(
                    functools.partial(_next_batch, batches=batches),
                    doing="reading bars",
                    transaction=False,
                    retries=0,
                )
                if batch is None:
                    return
                yield batch
        finally:
            await self.aclose()

    async def read_all(self) -> pa.Table:
        """The rest of the stream as one table."""
        return pa.Table.from_batches([b async for b in self], schema=BAR_SCHEMA)


def _next_batch(_: Connection, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    return next(batches, None)


def _close(batches: Iterator[pa.RecordBatch] | None) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()
