"""The `Store`'s reads: bar streams and tables, series metadata, counts, thread readers."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime

import pyarrow as pa

from timebase.sdk.intervals import Interval
from timebase.store import bars, counting, metadata_cache, thread_reads, versions
from timebase.store.bar_stream import BarStream
from timebase.store.bars import BarQuery, Dataset, SeriesKey
from timebase.store.cached_reads import CachedReads
from timebase.store.hot_reads import HotBarReader
from timebase.store.hot_tier import HotTier
from timebase.store.metadata_cache import VersionSnapshot
from timebase.store.pool import ConnectionPool
from timebase.store.summary import SeriesSummary, symbol_summary
from timebase.store.thread_reads import BarReader, LoopCall, LoopRelease


class StoreReads:
    """Reads of bars and series metadata (mixed into `Store`)."""

    pool: ConnectionPool
    cached: CachedReads
    hot_tier: HotTier | None

    def read(
        self,
        symbols: str | Iterable[str],
        interval: Interval | str,
        start: datetime,
        end: datetime,
        *,
        provider: str | None = None,
        limit: int | None = None,
    ) -> BarStream:
        """Stream bars in [start, end) ordered by symbol, timestamp: `async with` / `async for`.

        `limit` keeps the N most recent bars per symbol (output still ascending).
        """
        query = BarQuery.build(symbols, interval, start, end, provider=provider, limit=limit)
        return BarStream(self.pool, query)

    async def read_table(
        self,
        symbols: str | Iterable[str],
        interval: Interval | str,
        start: datetime,
        end: datetime,
        *,
        provider: str | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Like `read`, collected into one table (from the hot tier at the versions of an open
        `snapshot`, when it has the range)."""
        query = BarQuery.build(symbols, interval, start, end, provider=provider, limit=limit)
        hot = await self.cached.series_table(query)
        if hot is not None:
            return hot
        return await self.pool.run(
            functools.partial(bars.read_bars, query=query), doing="reading bars"
        )

    async def datasets(self, symbol: str | None = None) -> list[Dataset]:
        """Every stored series with its row count and first/last bar start."""
        return await self.pool.run(
            functools.partial(bars.list_datasets, symbol=symbol), doing="listing datasets"
        )

    async def summary(self, symbol: str) -> list[SeriesSummary]:
        """What is stored for `symbol`: each series' count, first/last bar and fetched ranges."""
        return await self.pool.run(
            functools.partial(symbol_summary, symbol=symbol), doing="summarizing a symbol"
        )

    async def latest(
        self,
        symbols: Iterable[str] | None = None,
        interval: Interval | str | Iterable[Interval | str] | None = None,
        provider: str | None = None,
    ) -> dict[SeriesKey, datetime]:
        """The newest stored bar start of each series matching the filters (cached at the
        versions of an open `snapshot`)."""
        return await self.cached.latest(symbols, interval, provider)

    @contextlib.asynccontextmanager
    async def snapshot(
        self, symbol: str, intervals: Iterable[Interval | str]
    ) -> AsyncIterator[VersionSnapshot]:
        """Within the block (and the tasks it starts), reads of `symbol`'s series at
        `intervals` are served from memory at the versions looked up here, in one indexed
        query (`timebase.store.metadata_cache`)."""
        snap = await self.cached.snapshot(symbol, intervals)
        token = metadata_cache.enter(snap)
        try:
            yield snap
        finally:
            metadata_cache.leave(token)

    async def look_up_versions(
        self, symbol: str, intervals: Iterable[Interval | str]
    ) -> dict[SeriesKey, int]:
        """The versions of `symbol`'s series at `intervals`, looked up like a `snapshot`'s
        (batched with the lookups of concurrent requests) but opening none."""
        return await self.cached.versions(symbol, intervals)

    async def count_bars(self, queries: Sequence[BarQuery]) -> int:
        """The rows `queries` read (exact when small, the planner's estimate when large)."""
        if not queries:
            return 0
        return await self.pool.run(
            functools.partial(counting.count_bars, queries=queries), doing="counting bars"
        )

    async def count_buckets(
        self, queries: Sequence[BarQuery], target: Interval, start: datetime, end: datetime
    ) -> int:
        """The bars of `target` in [start, end) that aggregating the bars of `queries` gives."""
        if not queries:
            return 0
        return await self.pool.run(
            functools.partial(
                counting.count_buckets, queries=queries, target=target, start=start, end=end
            ),
            doing="counting bars",
        )

    def thread_reader(
        self, call: LoopCall, release: LoopRelease
    ) -> contextlib.AbstractContextManager[BarReader]:
        """Blocking reads for a thread that is not the event loop's (`thread_reads`), through
        the hot tier when it is on (`hot_reads`)."""
        if self.hot_tier is None:
            return thread_reads.thread_reader(self.pool, call, release)

        def lookup(keys: list[SeriesKey]) -> dict[SeriesKey, int]:
            return call(self.series_versions(keys), thread_reads.LEASE_TIMEOUT)

        return HotBarReader(
            self.hot_tier, lookup, lambda: thread_reads.thread_reader(self.pool, call, release)
        )

    async def series_versions(self, keys: Iterable[SeriesKey]) -> dict[SeriesKey, int]:
        """The current version of each series of `keys` that has one (one indexed lookup)."""
        return await self.pool.run(
            functools.partial(versions.versions_of, keys=list(keys)),
            doing="reading series versions",
        )
