"""The Store's reads that a version snapshot can answer from memory (`metadata_cache`).

    await cached.datasets("AAPL", "1d")   # the stored series of AAPL 1d, with row counts

Each read first takes what the cache holds at the snapshot's versions, then reads the rest from
the database in one call, caching what it read at those versions. Without a snapshot (or for a
series the snapshot cannot vouch for) it reads exactly what the uncached Store read did.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

import pyarrow as pa

from timebase.sdk.intervals import Interval
from timebase.store import bars, coverage, metadata_cache, skipped, table_origins, versions
from timebase.store.bars import BarQuery, Dataset, SeriesKey
from timebase.store.coverage import TimeRange
from timebase.store.hot_tier import HotTier
from timebase.store.metadata_cache import VersionedCache, VersionSnapshot
from timebase.store.pool import Connection, ConnectionPool
from timebase.store.schema import BAR_SCHEMA
from timebase.store.skipped import SkippedRange
from timebase.store.version_reader import VersionReader


class LookupWatch(Protocol):
    """Told about the version lookups of a context (`watch_lookups`)."""

    def sent(self) -> None:
        """The batch carrying a lookup of the context closed (perhaps called more than once):
        from then on, a write committed may be missing from what that lookup reads."""

    def found(self, versions: dict[SeriesKey, int]) -> None:
        """A snapshot of the context was opened at `versions` (its series' versions)."""


_WATCH: contextvars.ContextVar[LookupWatch | None] = contextvars.ContextVar(
    "timebase_lookup_watch", default=None
)


def watch_lookups(watch: LookupWatch) -> None:
    """Tell `watch` about the version lookups of the current context (and the tasks it
    starts): when their batch closes and what they found. `HistoricalBars` stops sharing a
    resolution with later requests without checking their versions then (read-your-writes)."""
    _WATCH.set(watch)


class _Batch:
    """Version lookups sent as one statement: the series asked for before it `started`
    reading. What it then reads is at least as new as anything committed before each of its
    requests arrived; a request arriving once it started joins the next batch instead (a
    lookup already reading may miss a write committed meanwhile), like a group commit."""

    def __init__(self) -> None:
        self.symbols: set[str] = set()
        self.intervals: set[str] = set()
        self.started = False
        #: The `watch_lookups` watchers of its requests.
        self.sent: list[LookupWatch] = []
        self.found: asyncio.Future[dict[SeriesKey, int]] = (
            asyncio.get_running_loop().create_future()
        )
        self.found.add_done_callback(_retrieved)


def _retrieved(found: asyncio.Future[dict[SeriesKey, int]]) -> None:
    """Mark a lookup's failure seen: each request awaiting it gets it; none may be left."""
    if not found.cancelled():
        found.exception()


def _nothing() -> None:
    """The version reader's `started` callback: a batch is closed before it is sent."""


class CachedReads:
    """Coverage, skipped ranges, newest bars and series ranges, cached by series version."""

    def __init__(self, pool: ConnectionPool, hot_tier: HotTier | None) -> None:
        self.pool = pool
        self.hot_tier = hot_tier
        self.coverage_cache: VersionedCache[list[TimeRange]] = VersionedCache()
        self.skipped_cache: VersionedCache[list[SkippedRange]] = VersionedCache()
        self.latest_cache: VersionedCache[dict[SeriesKey, datetime]] = VersionedCache()
        self.datasets_cache: VersionedCache[list[Dataset]] = VersionedCache()
        #: Where the version lookups run first (`version_reader`).
        self.version_reader = VersionReader(pool)
        #: The batch of version lookups requests join until it starts (`snapshot`).
        self._next: _Batch | None = None
        #: Whether a batch is being sent (by its first request, or by `_run_batches`).
        self._sending = False
        #: Sends the batches gathered while one was sent (None: none to send).
        self._runner: asyncio.Task[None] | None = None
        #: Statements sent for batches, and the lookups they answered (for tests).
        self.batches = 0
        self.batched = 0

    async def snapshot(self, symbol: str, intervals: Iterable[Interval | str]) -> VersionSnapshot:
        """The snapshot of `symbol`'s series at `intervals` (`versions`), told to the context's
        `capturing` blocks and `watch_lookups` watcher."""
        name = bars.normalize_symbol(symbol)
        snap = VersionSnapshot(name, _names(intervals), await self.versions(symbol, intervals))
        metadata_cache.opened(snap)
        if (watch := _WATCH.get()) is not None:
            watch.found(dict(snap.versions))
        return snap

    async def versions(
        self, symbol: str, intervals: Iterable[Interval | str]
    ) -> dict[SeriesKey, int]:
        """The versions of `symbol`'s series at `intervals`: one indexed lookup, shared with the
        requests (of any series) that arrive before it starts (see `_Batch`): while one batch
        reads, the requests arriving meanwhile gather in the next, sent as one statement once
        the first is answered. The request that finds no batch under way sends it itself (no
        task started for it, no hop back), once the requests of the same turn of the event loop
        joined."""
        names = _names(intervals)
        name = bars.normalize_symbol(symbol)
        while True:
            batch = self._next
            if batch is None:
                batch = self._next = _Batch()
            batch.symbols.add(name)
            batch.intervals |= names
            if (watch := _WATCH.get()) is not None:
                batch.sent.append(watch)
            self.batched += 1
            if not self._sending and self._runner is None:  # none under way: send it from here
                self._sending = True
                try:
                    await asyncio.sleep(0)  # the requests of this turn of the loop join it
                    await self._look_up(batch)
                finally:
                    self._sending = False
                    self._send_next()
            try:
                found = await asyncio.shield(batch.found)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if batch.found.cancelled() and task is not None and not task.cancelling():
                    continue  # the request sending it went away before it read: ask again
                raise
            break
        return {k: v for k, v in found.items() if k.symbol == name and k.interval in names}

    def _send_next(self) -> None:
        """Send the batch gathered meanwhile (if any) on a task of its own."""
        if self._next is not None and not self._sending and self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run_batches())
            self._runner.add_done_callback(self._runner_done)

    async def _run_batches(self) -> None:
        """Send the gathered batches one after the other until none is waiting."""
        try:
            while (batch := self._next) is not None and not self._sending:
                self._sending = True
                try:
                    await self._look_up(batch)
                finally:
                    self._sending = False
        finally:
            if self._runner is asyncio.current_task():
                self._runner = None  # now: a request arriving from here on sends its own

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        """A runner cancelled (the loop closing), perhaps before it ran: the requests of the
        batch it did not send ask again (`snapshot`)."""
        if self._runner is task:
            self._runner = None
        batch = self._next
        if task.cancelled() and batch is not None and not self._sending:
            self._next = None
            batch.found.cancel()

    async def _look_up(self, batch: _Batch) -> None:
        """Send `batch` (one statement) and give its requests the answer."""
        # From here on, a new request may predate what this reads: it joins the next batch.
        batch.started = True
        if self._next is batch:
            self._next = None
        for watch in batch.sent:
            watch.sent()
        symbols, intervals = sorted(batch.symbols), sorted(batch.intervals)

        def read(conn: Connection) -> dict[SeriesKey, int]:
            found: dict[SeriesKey, int] = {}
            for name in symbols:
                found.update(versions.series_versions(conn, name, intervals))
            return found

        self.batches += 1
        try:
            # On the event loop (one round trip, `version_reader`), else on a pool thread.
            found = await self.version_reader.read(symbols, intervals, _nothing)
            if found is None:
                found = await self.pool.run(read, doing="reading series versions")
        except asyncio.CancelledError:
            batch.found.cancel()  # its requests ask again (`snapshot`)
            raise
        except Exception as exc:
            batch.found.set_exception(exc)
        else:
            batch.found.set_result(found)

    async def close(self) -> None:
        """Close the version reader's connection (the store is stopping)."""
        await self.version_reader.close()

    async def covered(
        self, keys: Sequence[SeriesKey], start: datetime, end: datetime
    ) -> dict[SeriesKey, list[TimeRange]]:
        bars.check_range(start, end)
        snap = metadata_cache.current()
        out: dict[SeriesKey, list[TimeRange]] = {}
        misses: list[tuple[SeriesKey, int | None]] = []
        for key in keys:
            version = snap.version(key) if snap is not None else None
            cached = self.coverage_cache.get(key, version)
            if cached is None:
                misses.append((key, version))
            else:
                out[key] = coverage.clip(cached, start, end)
        if misses:

            def read(conn: Connection) -> dict[SeriesKey, list[TimeRange]]:
                found = {}
                for key, version in misses:
                    if version is None:
                        found[key] = coverage.covered_ranges(conn, key, start, end)
                        continue
                    ranges = coverage.series_ranges(conn, key)
                    self.coverage_cache.put(key, version, ranges)
                    found[key] = coverage.clip(ranges, start, end)
                return found

            out.update(await self.pool.run(read, doing="reading coverage"))
        return {key: out[key] for key in keys}

    async def skipped_ranges(
        self, keys: Sequence[SeriesKey], start: datetime, end: datetime
    ) -> list[SkippedRange]:
        bars.check_range(start, end)
        snap = metadata_cache.current()
        found: list[SkippedRange] = []
        misses: list[tuple[SeriesKey, int]] = []
        uncached: list[SeriesKey] = []
        for key in keys:
            version = snap.version(key) if snap is not None else None
            cached = self.skipped_cache.get(key, version)
            if cached is not None:
                found += cached
            elif version is None:
                uncached.append(key)
            else:
                misses.append((key, version))
        if misses or uncached:

            def read(conn: Connection) -> list[SkippedRange]:
                rows = skipped.overlapping(conn, uncached, start, end) if uncached else []
                for key, version in misses:
                    ranges = skipped.series_ranges(conn, key)
                    self.skipped_cache.put(key, version, ranges)
                    rows += ranges
                return rows

            found += await self.pool.run(read, doing="reading skipped bars")
        inside = [r for r in found if r.start < end and r.end > start]
        return sorted(inside, key=lambda r: (r.start, r.provider))

    async def latest(
        self,
        symbols: Iterable[str] | None,
        interval: Interval | str | Iterable[Interval | str] | None,
        provider: str | None,
    ) -> dict[SeriesKey, datetime]:
        names = list(symbols) if symbols is not None else None
        snap = metadata_cache.current()
        cache_key: tuple[str, tuple[str, ...], str | None] | None = None
        version = None
        if snap is not None and names is not None and len(names) == 1:
            wanted = _interval_names(interval)
            if wanted is not None and bars.normalize_symbol(names[0]) == snap.symbol:
                # One provider's series are among the symbol's: their versions cover it.
                cache_key = (snap.symbol, wanted, provider)
                version = snap.series(wanted)
        cached = self.latest_cache.get(cache_key, version) if cache_key is not None else None
        if cached is not None:
            return dict(cached)

        def read(conn: Connection) -> dict[SeriesKey, datetime]:
            return bars.latest_timestamps(conn, symbols=names, interval=interval, provider=provider)

        found = await self.pool.run(read, doing="reading latest timestamps")
        if cache_key is not None:
            self.latest_cache.put(cache_key, version, dict(found))
        return found

    async def datasets(self, symbol: str, interval: Interval | str) -> list[Dataset]:
        """The stored series of `symbol` at `interval` (row counts, first and last bar), cached
        at the versions of the open snapshot's series of that interval."""
        name = bars.normalize_symbol(symbol)
        wanted = (
            interval.value if isinstance(interval, Interval) else Interval.parse(interval).value
        )
        snap = metadata_cache.current()
        version = snap.series([wanted]) if snap is not None and snap.symbol == name else None
        cached = self.datasets_cache.get((name, wanted), version)
        if cached is not None:
            return list(cached)

        def read(conn: Connection) -> list[Dataset]:
            return [d for d in bars.list_datasets(conn, symbol=name) if d.interval == wanted]

        found = await self.pool.run(read, doing="listing datasets")
        self.datasets_cache.put((name, wanted), version, found)
        return list(found)

    async def series_table(self, query: BarQuery) -> pa.Table | None:
        """The bars of a one-series `query` from the hot tier at the snapshot's version (read
        and kept on a miss), or None when the hot tier cannot serve it (then read as usual)."""
        snap = metadata_cache.current()
        tier = self.hot_tier
        if tier is None or snap is None or query.limit is not None or query.provider is None:
            return None
        if len(query.symbols) != 1:
            return None
        key = SeriesKey(query.symbols[0], query.interval.value, query.provider)
        version = snap.version(key)
        if version is None:
            return None
        # A hit at the current version is sliced on the loop (no file I/O); otherwise the lookup
        # runs in a thread: it removes the files of segments it finds out of date.
        hit = tier.lookup_current(key, query.start, query.end, version)
        if hit is None:
            hit = await asyncio.to_thread(tier.lookup, key, query.start, query.end, version)
        origin = ("bars", key, version, query.start, query.end)
        if hit is not None:
            table = pa.Table.from_batches(hit, schema=BAR_SCHEMA)
            table_origins.tag(table, origin)  # what is rendered from it can be kept by origin
            return table
        table = await self.pool.run(lambda conn: bars.read_bars(conn, query), doing="reading bars")
        await asyncio.to_thread(tier.keep_table, key, query.start, query.end, version, table)
        return table


def _names(intervals: Iterable[Interval | str]) -> frozenset[str]:
    return frozenset(
        i.value if isinstance(i, Interval) else Interval.parse(i).value for i in intervals
    )


def _interval_names(
    interval: Interval | str | Iterable[Interval | str] | None,
) -> tuple[str, ...] | None:
    if interval is None:
        return None
    raw = [interval] if isinstance(interval, str | Interval) else list(interval)
    return tuple(
        sorted({i.value if isinstance(i, Interval) else Interval.parse(i).value for i in raw})
    )
