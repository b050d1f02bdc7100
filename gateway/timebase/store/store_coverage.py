"""The `Store`'s coverage: which ranges of a series were fetched, and which skipped bars."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime

from timebase.sdk.intervals import Interval
from timebase.store import coverage, metadata_cache, versions
from timebase.store.cached_reads import CachedReads
from timebase.store.coverage import TimeRange
from timebase.store.keys import series_key
from timebase.store.pool import Connection, ConnectionPool
from timebase.store.skipped import SkippedRange


class StoreCoverage:
    """Fetched ranges (mixed into `Store`)."""

    pool: ConnectionPool
    cached: CachedReads

    async def record_coverage(
        self, symbol: str, interval: Interval | str, provider: str, start: datetime, end: datetime
    ) -> TimeRange:
        """Record [start, end) as fetched (merged with overlapping and adjacent ranges)."""
        key = series_key(symbol, interval, provider)

        metadata_cache.wrote([key])

        def write(conn: Connection) -> TimeRange:
            merged = coverage.record_range(conn, key, start, end)
            versions.bump_series_versions(conn, [key])
            return merged

        return await self.pool.run(write, doing="recording coverage")

    async def covered(
        self, symbol: str, interval: Interval | str, provider: str, start: datetime, end: datetime
    ) -> list[TimeRange]:
        """The fetched ranges intersecting [start, end), clipped to it."""
        key = series_key(symbol, interval, provider)
        return await self.pool.run(
            functools.partial(coverage.covered_ranges, key=key, start=start, end=end),
            doing="reading coverage",
        )

    async def covered_by_provider(
        self,
        symbol: str,
        interval: Interval | str,
        providers: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> dict[str, list[TimeRange]]:
        """`covered` for several providers of one series, in one database call."""
        keys = [series_key(symbol, interval, provider) for provider in providers]
        found = await self.cached.covered(keys, start, end)
        return {key.provider: ranges for key, ranges in found.items()}

    async def skipped_ranges(
        self,
        symbol: str,
        interval: Interval | str,
        providers: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> list[SkippedRange]:
        """The ranges of these providers' series intersecting [start, end) whose fetch skipped
        invalid bars (ordered by start)."""
        keys = [series_key(symbol, interval, provider) for provider in providers]
        if not keys:
            return []
        return await self.cached.skipped_ranges(keys, start, end)

    async def missing(
        self, symbol: str, interval: Interval | str, provider: str, start: datetime, end: datetime
    ) -> list[TimeRange]:
        """The parts of [start, end) never fetched: what to ask the provider for."""
        key = series_key(symbol, interval, provider)
        return await self.pool.run(
            functools.partial(coverage.missing_ranges, key=key, start=start, end=end),
            doing="reading coverage",
        )
