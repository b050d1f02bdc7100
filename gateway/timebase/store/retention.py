"""Retention: old bars are deleted per interval class, and the coverage table forgets them too.

Defaults come from the agreements (`RetentionConfig`): intraday bars kept 365 days, daily and
longer forever. One run deletes, in one transaction per class, the bars older than the cutoff and
trims the coverage of the same series to start at the cutoff (and, when it removed anything,
bumps the version of every series of the class: `timebase.store.versions`), so a deleted range shows up as a
gap (fetched again when asked for), never as a silently empty stretch. On TimescaleDB whole chunks
are dropped first (`drop_chunks`, their bars counted first: users see bars, never chunks); the
rows left in the chunk straddling the cutoff are deleted the same way. The transaction first locks
every chunk against TimescaleDB's compression policy (`lock_against_compression`), which would
otherwise deadlock with it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from timebase.core.config import RetentionConfig
from timebase.sdk.intervals import IntervalClass
from timebase.sdk.tasks import cancel_and_wait
from timebase.store import coverage, literals, skipped, versions
from timebase.store.pool import Connection, ConnectionPool
from timebase.store.schema import BAR_TABLES, intervals_of
from timebase.store.timescale import drop_chunks_before, lock_against_compression

_log = logging.getLogger(__name__)

__all__ = ["RetentionConfig", "RetentionJob", "RetentionResult", "apply_retention", "cutoffs"]


@dataclass(frozen=True)
class RetentionResult:
    """What one run removed, per interval class."""

    cutoffs: dict[IntervalClass, datetime]
    deleted_bars: dict[IntervalClass, int]
    dropped_chunks: dict[IntervalClass, int]
    trimmed_ranges: dict[IntervalClass, int]


def cutoffs(config: RetentionConfig, now: datetime) -> dict[IntervalClass, datetime]:
    """The instant before which each interval class's bars go (classes kept forever absent)."""
    days = {IntervalClass.INTRADAY: config.intraday_days, IntervalClass.DAILY: config.daily_days}
    return {klass: now - timedelta(days=d) for klass, d in days.items() if d is not None}


def apply_class(
    conn: Connection, klass: IntervalClass, cutoff: datetime, *, timescale: bool
) -> tuple[int, int, int]:
    """Remove one class's bars before `cutoff` and trim its coverage (caller's transaction).

    Returns (bars deleted, whether in dropped chunks or row by row; chunks dropped; coverage
    ranges trimmed).
    """
    table = BAR_TABLES[klass]
    cutoff_sql = literals.timestamptz(cutoff)
    if timescale:
        lock_against_compression(conn, table)
    dropped, chunks = drop_chunks_before(conn, table, cutoff_sql) if timescale else (0, 0)
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table} WHERE ts < {cutoff_sql}")
        deleted = max(cur.rowcount, 0)
    trimmed = coverage.trim_before(conn, intervals_of(klass), cutoff)
    skipped.trim_before(conn, intervals_of(klass), cutoff)
    if dropped or deleted or chunks or trimmed:  # copies of these series are out of date now
        versions.bump_intervals(conn, intervals_of(klass))
    return dropped + deleted, chunks, trimmed


async def apply_retention(
    pool: ConnectionPool,
    config: RetentionConfig,
    *,
    timescale: bool = False,
    now: datetime | None = None,
) -> RetentionResult:
    """Apply `config` at `now` (default: the current time), one transaction per class."""
    limits = cutoffs(config, now or datetime.now(UTC))
    result = RetentionResult(limits, {}, {}, {})
    for klass, cutoff in limits.items():
        deleted, chunks, trimmed = await pool.run(
            functools.partial(apply_class, klass=klass, cutoff=cutoff, timescale=timescale),
            doing=f"applying retention to {klass.value} bars",
        )
        result.deleted_bars[klass] = deleted
        result.dropped_chunks[klass] = chunks
        result.trimmed_ranges[klass] = trimmed
        if deleted or chunks or trimmed:
            _log.info(
                "retention removed %s bars before %s",
                klass.value,
                cutoff.isoformat(),
                extra={
                    "deleted_rows": deleted,
                    "dropped_chunks": chunks,
                    "trimmed_ranges": trimmed,
                },
            )
    return result


class RetentionJob:
    """Runs `run_once` now and then every `interval_seconds`, until stopped."""

    def __init__(self, run_once: Callable[[], Awaitable[object]], interval_seconds: float) -> None:
        self.run_once = run_once
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="timebase-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                _log.exception("retention run failed; retrying in %ss", self.interval_seconds)
            await asyncio.sleep(self.interval_seconds)
