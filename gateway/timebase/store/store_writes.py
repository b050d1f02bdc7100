"""The `Store`'s writes: user and provider batches, fetched ranges with their coverage in one
transaction, invalidation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from timebase.sdk.intervals import Interval
from timebase.store import bars, coverage, metadata_cache, skipped, symbols, versions
from timebase.store.bars import SeriesKey
from timebase.store.coverage import TimeRange
from timebase.store.keys import series_key
from timebase.store.pool import Connection, ConnectionPool
from timebase.store.series_groups import SERIES, distinct_series
from timebase.store.skipped import SkipReport
from timebase.store.timescale import TimescaleStatus
from timebase.store.validation import CleanBatch, clean_provider_batch, validate_user_batch

_log = logging.getLogger(__name__)


class StoreWrites:
    """Writes of bars (mixed into `Store`)."""

    pool: ConnectionPool
    scaled_prices: bool
    timescale: TimescaleStatus

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
            written = bars.upsert_bars(
                conn, table, scaled_prices=self.scaled_prices, timescale=self.timescale.enabled
            )
            symbols.note_stored(conn, pairs)
            versions.bump_series_versions(conn, keys)
            return written

        return await self.pool.run(write, doing="writing bars")

    async def write_provider_batch(self, table: pa.Table) -> WriteResult:
        """A provider's batch: invalid rows skipped (logged as a warning), the rest upserted."""
        cleaned = await self._clean(table)
        written = await self.upsert(cleaned.table)
        return WriteResult(written, cleaned.skipped, cleaned.reasons)

    async def clean_fetched(
        self, table: pa.Table, *, begun: Awaitable[CleanBatch] | None = None
    ) -> CleanBatch:
        """`table`, fetched from a provider, cleaned as `write_fetched` cleans it (for a caller
        that uses the cleaned rows too, and gives them to `write_fetched`). `begun`: the same
        `clean_provider_batch(table)`, started already (e.g. while the provider's call ends)."""
        return await self._clean(table, begun)

    async def write_fetched(
        self,
        table: pa.Table | CleanBatch,
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
        (`skipped_ranges`). A `CleanBatch` (`clean_fetched`) is not cleaned again."""
        key = series_key(symbol, interval, provider)
        bars.check_range(start, end)
        cleaned = table if isinstance(table, CleanBatch) else await self._clean(table)
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
            written = bars.upsert_bars(
                conn,
                cleaned.table,
                scaled_prices=self.scaled_prices,
                timescale=self.timescale.enabled,
            )
            if cleaned.table.num_rows:
                symbols.note_stored(conn, [(key.symbol, key.provider)])
            skipped.remember(conn, key, start, end, count=count, reasons=reasons)
            versions.bump_series_versions(conn, [key])
            if covered_end <= start:
                return written, None
            return written, coverage.record_range(conn, key, start, covered_end)

        written, merged = await self.pool.run(write, doing="writing fetched bars")
        return WriteResult(written, cleaned.skipped, cleaned.reasons, merged)

    async def _clean(
        self, table: pa.Table, begun: Awaitable[CleanBatch] | None = None
    ) -> CleanBatch:
        if begun is None:
            begun = asyncio.to_thread(clean_provider_batch, table)
        cleaned = await begun
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


@dataclass(frozen=True)
class WriteResult:
    """What a provider batch write did: rows inserted or changed, rows skipped and why."""

    written: int
    skipped: int = 0
    reasons: dict[str, int] | None = None
    coverage: TimeRange | None = None


def _series_keys(table: pa.Table) -> list[SeriesKey]:
    """The distinct series (symbol upper-cased) of a bar batch."""
    if table.num_rows == 0:
        return []
    groups = distinct_series(table)  # without Acero for one series
    columns = [groups.column(n).to_pylist() for n in SERIES]
    return sorted(
        {SeriesKey(str(s).upper(), str(i), str(p)) for s, i, p in zip(*columns, strict=True)}
    )
