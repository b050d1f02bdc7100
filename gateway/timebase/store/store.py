"""The `Store`: TimeBase's one door to its database.

    store = Store(url, retention=RetentionConfig())
    await store.start()      # migrations, TimescaleDB detection, connection pool, retention job
    ...
    await store.stop()

Everything blocking runs on the pool's threads; every method is a coroutine.

`Store` is the lifecycle (pool, migrations, TimescaleDB, retention); its methods come by concern
from `store_writes` (bars written, invalidated), `store_reads` (bars and series metadata read),
`store_coverage` (fetched and skipped ranges) and `store_catalog` (audit log, symbols, data sets'
calendars). `BarStream` is in `bar_stream`, `series_key` in `keys`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import TracebackType

from timebase.core.config import RetentionConfig
from timebase.sdk.errors import DatabaseError
from timebase.store import retention
from timebase.store.bar_stream import BarStream
from timebase.store.cached_reads import CachedReads
from timebase.store.hot_tier import HotTier
from timebase.store.keys import series_key
from timebase.store.leases import SeriesLeases
from timebase.store.migrations import migrate
from timebase.store.pool import ConnectionPool
from timebase.store.retention import RetentionJob, RetentionResult
from timebase.store.store_catalog import StoreCatalog
from timebase.store.store_coverage import StoreCoverage
from timebase.store.store_reads import StoreReads
from timebase.store.store_writes import StoreWrites, WriteResult
from timebase.store.timescale import TimescaleStatus, raise_if_not_preloaded, start_timescale

__all__ = ["BarStream", "Store", "WriteResult", "series_key"]


class Store(StoreWrites, StoreCatalog, StoreReads, StoreCoverage):
    """Bars, coverage and retention over one PostgreSQL (or TimescaleDB) database."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        retention: RetentionConfig | None = None,
        run_retention: bool = True,
        acquire_timeout: float = 10.0,
        hot_tier: HotTier | None = None,
        scaled_prices: bool = True,
    ) -> None:
        self.url = url
        #: Prices written as scaled integers where exact (`database.scaled_prices`).
        self.scaled_prices = scaled_prices
        #: Recently read series ranges, memory-mapped (None: off); see `timebase.store.hot_tier`.
        self.hot_tier = hot_tier
        self.pool = ConnectionPool(url, size=pool_size, acquire_timeout=acquire_timeout)
        #: Per-series fetch leases shared with every gateway on this database (`leases`).
        self.leases = SeriesLeases(url, pool=self.pool)
        #: Metadata (and hot-tier bars) served at a request's series versions (`snapshot`).
        self.cached = CachedReads(self.pool, hot_tier)
        self.retention = retention or RetentionConfig()
        self.timescale = TimescaleStatus(False, reason="the store is not started")
        self._retention_job: RetentionJob | None = (
            RetentionJob(self.apply_retention, self.retention.interval_seconds)
            if run_retention
            else None
        )

    async def start(self) -> None:
        """Open the pool, apply migrations, set up TimescaleDB if present, start retention."""
        await self.pool.start()
        try:
            try:
                await migrate(self.pool)
            except DatabaseError:
                await asyncio.to_thread(raise_if_not_preloaded, self.url)  # the clearer error
                raise
            self.timescale = await start_timescale(self.pool)
            if self.hot_tier is not None:
                await asyncio.to_thread(self.hot_tier.open)
            if self._retention_job is not None:
                await self._retention_job.start()
        except BaseException:
            await self.pool.stop()
            raise

    async def stop(self) -> None:
        if self._retention_job is not None:
            await self._retention_job.stop()
        await self.leases.close()
        await self.cached.close()
        await self.pool.stop()
        if self.hot_tier is not None:
            await asyncio.to_thread(self.hot_tier.close)

    async def __aenter__(self) -> Store:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- retention ----------------------------------------------------------------------------

    async def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete bars past retention and trim coverage (what the scheduled job runs)."""
        return await retention.apply_retention(
            self.pool, self.retention, timescale=self.timescale.enabled, now=now
        )
