"""The `Store`: TimeBase's one door to its database.

    store = Store(url, retention=RetentionConfig())
    await store.start()      # migrations, TimescaleDB detection, connection pool, retention job
    ...
    await store.stop()

Everything blocking runs on the pool's threads; every method is a coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import pyarrow as pa

from timebase.core.config import RetentionConfig
from timebase.sdk.errors import DatabaseError
from timebase.sdk.intervals import Interval
from timebase.store import (
    audit,
    bars,
    calendars,
    counting,
    coverage,
    metadata_cache,
    retention,
    skipped,
    symbols,
    thread_reads,
    versions,
)
from timebase.store.audit import AuditFilter, AuditRecord
from timebase.store.bars import BarQuery, Dataset, SeriesKey
from timebase.store.cached_reads import CachedReads
from timebase.store.coverage import TimeRange
from timebase.store.hot_reads import HotBarReader
from timebase.store.hot_tier import HotTier
from timebase.store.leases import SeriesLeases
from timebase.store.metadata_cache import VersionSnapshot
from timebase.store.migrations import migrate
from timebase.store.pool import Connection, ConnectionPool, PooledConnection
from timebase.store.retention import RetentionJob, RetentionResult
from timebase.store.schema import BAR_SCHEMA
from timebase.store.skipped import SkippedRange, SkipReport
from timebase.store.summary import SeriesSummary, symbol_summary
from timebase.store.symbols import CatalogEntry, SymbolPage, SymbolSearch
from timebase.store.thread_reads import BarReader, LoopCall, LoopRelease
from timebase.store.timescale import TimescaleStatus, raise_if_not_preloaded, start_timescale
from timebase.store.validation import CleanBatch, clean_provider_batch, validate_user_batch

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    """What a provider batch write did: rows inserted or changed, rows skipped and why."""

    written: int
    skipped: int = 0
    reasons: dict[str, int] | None = None
    coverage: TimeRange | None = None


def series_key(symbol: str, interval: Interval | str, provider: str) -> SeriesKey:
    """A normalised series key (upper-case symbol, checked interval)."""
    parsed = interval if isinstance(interval, Interval) else Interval.parse(interval)
    return SeriesKey(bars.normalize_symbol(symbol), parsed.value, provider)


class Store:
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

    # -- writes -------------------------------------------------------------------------------

    async def ingest(self, table: pa.Table) -> int:
        """A user's batch: validated whole (InvalidDataError, nothing written) then upserted."""
        batch = await asyncio.to_thread(validate_user_batch, table)
        return await self.upsert(batch)

    async def upsert(self, table: pa.Table) -> int:
        """Upsert an already validated batch; return rows inserted or changed."""
        keys = await asyncio.to_thread(_series_keys, table)
        pairs = sorted({(k.symbol, k.provider) for k in keys})

        metadata_cache.wrote(keys)

        def write(conn: Connection) -> int:
            written = bars.upsert_bars(conn, table, scaled_prices=self.scaled_prices)
            symbols.note_stored(conn, pairs)
            versions.bump_series_versions(conn, keys)
            return written

        return await self.pool.run(write, doing="writing bars")

    async def write_provider_batch(self, table: pa.Table) -> WriteResult:
        """A provider's batch: invalid rows skipped (logged as a warning), the rest upserted."""
        cleaned = await self._clean(table)
        written = await self.upsert(cleaned.table)
        return WriteResult(written, cleaned.skipped, cleaned.reasons)

    async def write_fetched(
        self,
        table: pa.Table,
        symbol: str,
        interval: Interval | str,
        provider: str,
        *,
        start: datetime,
        end: datetime,
        covered_end: datetime | None = None,
        reported: SkipReport | None = None,
    ) -> WriteResult:
        """Bars fetched from a provider for [start, end), in one transaction (all or nothing):
        cleaned and upserted; [start, covered_end) recorded as covered (default: all of it,
        nothing when `covered_end <= start`); and whether bars of [start, end) were skipped
        (here, or by the provider: `reported`) remembered, replacing what was remembered there
        (`skipped_ranges`)."""
        key = series_key(symbol, interval, provider)
        bars.check_range(start, end)
        cleaned = await self._clean(table)
        covered_end = end if covered_end is None else min(covered_end, end)
        count = cleaned.skipped + (reported.count if reported else 0)
        reasons = "; ".join(
            part
            for part in (
                ", ".join(f"{k}: {v}" for k, v in cleaned.reasons.items()),
                reported.reasons if reported else "",
            )
            if part
        )

        metadata_cache.wrote([key])

        def write(conn: Connection) -> tuple[int, TimeRange | None]:
            written = bars.upsert_bars(conn, cleaned.table, scaled_prices=self.scaled_prices)
            if cleaned.table.num_rows:
                symbols.note_stored(conn, [(key.symbol, key.provider)])
            skipped.remember(conn, key, start, end, count=count, reasons=reasons)
            versions.bump_series_versions(conn, [key])
            if covered_end <= start:
                return written, None
            return written, coverage.record_range(conn, key, start, covered_end)

        written, merged = await self.pool.run(write, doing="writing fetched bars")
        return WriteResult(written, cleaned.skipped, cleaned.reasons, merged)

    async def _clean(self, table: pa.Table) -> CleanBatch:
        cleaned = await asyncio.to_thread(clean_provider_batch, table)
        if cleaned.skipped:
            _log.warning(
                "skipped %d invalid bars of %d from a provider batch",
                cleaned.skipped,
                table.num_rows,
                extra={"skipped": cleaned.skipped, "reasons": cleaned.reasons},
            )
        return cleaned

    async def invalidate(
        self, symbol: str, interval: Interval | str, provider: str, start: datetime, end: datetime
    ) -> int:
        """Delete a series' bars in [start, end) and forget it was fetched; return rows deleted."""
        key = series_key(symbol, interval, provider)
        bars.check_range(start, end)

        metadata_cache.wrote([key])

        def run(conn: Connection) -> int:
            deleted = bars.delete_bars(conn, key, start, end)
            coverage.remove_range(conn, key, start, end)
            skipped.forget(conn, key, start, end)
            versions.bump_series_versions(conn, [key])
            return deleted

        return await self.pool.run(run, doing="invalidating bars")

    async def record_audit(self, record: AuditRecord) -> int:
        """Store one audit row in a transaction of its own; return its id."""
        return await self.pool.run(
            functools.partial(audit.insert, record=record), doing="writing the audit log"
        )

    async def audit_records(self, query: AuditFilter) -> list[AuditRecord]:
        """Audit rows matching `query`, newest first."""
        return await self.pool.run(
            functools.partial(audit.select, query=query), doing="reading the audit log"
        )

    async def replace_listed_symbols(self, provider: str, entries: list[CatalogEntry]) -> int:
        """`provider`'s catalogue is `entries` now (its GetSymbols answer); return their count."""
        return await self.pool.run(
            functools.partial(symbols.replace_listed, provider=provider, entries=entries),
            doing="storing the symbol catalogue",
        )

    async def set_dataset_calendar(self, providers: Iterable[str], calendar: str) -> None:
        """The imported data sets `providers` trade on `calendar` (docs/calendars.md)."""
        await self.pool.run(
            functools.partial(
                calendars.set_dataset_calendar, providers=list(providers), calendar=calendar
            ),
            doing="recording a data set's calendar",
        )

    async def dataset_calendars(self, providers: Iterable[str]) -> dict[str, str]:
        """The calendars the data sets among `providers` named."""
        return await self.pool.run(
            functools.partial(calendars.dataset_calendars, providers=list(providers)),
            doing="reading data sets' calendars",
        )

    async def search_symbols(self, query: SymbolSearch) -> SymbolPage:
        return await self.pool.run(
            functools.partial(symbols.search, query=query), doing="searching symbols"
        )

    async def listed_symbols(self, provider: str) -> list[CatalogEntry]:
        return await self.pool.run(
            functools.partial(symbols.listed_by, provider=provider), doing="reading symbols"
        )

    # -- reads --------------------------------------------------------------------------------

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

    # -- coverage -----------------------------------------------------------------------------

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

    # -- retention ----------------------------------------------------------------------------

    async def apply_retention(self, now: datetime | None = None) -> RetentionResult:
        """Delete bars past retention and trim coverage (what the scheduled job runs)."""
        return await retention.apply_retention(
            self.pool, self.retention, timescale=self.timescale.enabled, now=now
        )


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


def _series_keys(table: pa.Table) -> list[SeriesKey]:
    """The distinct series (symbol upper-cased) of a bar batch."""
    if table.num_rows == 0:
        return []
    names = ["symbol", "interval", "provider"]
    groups = table.select(names).group_by(names).aggregate([])
    columns = [groups.column(n).to_pylist() for n in names]
    return sorted(
        {SeriesKey(str(s).upper(), str(i), str(p)) for s, i, p in zip(*columns, strict=True)}
    )


def _next_batch(_: Connection, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    return next(batches, None)


def _close(batches: Iterator[pa.RecordBatch] | None) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()
