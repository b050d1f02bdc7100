"""Batched persistence of final real-time bars, off the fan-out path.

The hub calls `add` (sync, O(1)) for every final bar; a background task flushes what has
accumulated every `interval` seconds, or sooner once `max_rows` are waiting, through
`write_provider_batch` (invalid bars are skipped by the store and logged). A failed write keeps
its rows for the next flush (retried with backoff), at most `max_pending` rows — beyond that the
oldest are dropped and an error is logged, so a database outage cannot grow memory forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa

from timebase.sdk.backoff import Backoff
from timebase.store.schema import BAR_SCHEMA

_log = logging.getLogger("timebase.gateway.realtime")

#: (symbol, interval, provider, timestamp µs)
RowKey = tuple[str, str, str, int]
Row = tuple[float, float, float, float, float, str | None]


class BarSink(Protocol):
    """What the writer needs of `timebase.store.Store`."""

    async def write_provider_batch(self, table: pa.Table) -> Any: ...


class BarWriter:
    def __init__(
        self,
        sink: BarSink,
        *,
        interval: float = 0.25,
        max_rows: int = 500,
        max_pending: int = 100_000,
        retry_max: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.max_rows = max_rows
        self.max_pending = max_pending
        self.retry_max = retry_max
        self.stop_timeout = stop_timeout
        # Keyed, so a bar sent twice (a revision) is written once with its newest values.
        self._pending: dict[RowKey, Row] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def add(
        self,
        key: RowKey,
        ohlcv: tuple[float, float, float, float, float],
        metadata: Mapping[str, str],
    ) -> None:
        """Queue one final bar keyed (symbol, interval, provider, timestamp µs)."""
        meta = json.dumps(dict(metadata), sort_keys=True) if metadata else None
        self._pending.pop(key, None)
        self._pending[key] = (*ohlcv, meta)
        while len(self._pending) > self.max_pending:
            del self._pending[next(iter(self._pending))]
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                _log.error(
                    "real-time bars are not being stored (database unavailable?); "
                    "%d dropped so far",
                    self.dropped,
                )
        if len(self._pending) >= self.max_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="realtime-bar-writer")

    async def stop(self) -> None:
        """Let an in-flight write finish, write what is pending, stop (all within
        `stop_timeout`; a write is never cancelled halfway unless that runs out)."""
        task, self._task = self._task, None
        if task is None:
            if self._pending:
                await self._final_flush()
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.stop_timeout)
        except TimeoutError:
            _log.error(
                "storing real-time bars did not finish within %.1f s at shutdown; "
                "%d bars not stored",
                self.stop_timeout,
                self.pending,
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _final_flush(self) -> None:
        try:
            await self.flush()
        except Exception:
            _log.exception("could not store %d real-time bars at shutdown", self.pending)

    async def _run(self) -> None:
        delay = self.interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            if self._stopping:
                break
            if not self._pending:
                delay = self.interval
                continue
            try:
                await self.flush()
            except Exception as exc:
                self.failures += 1
                delay = Backoff(self.interval, maximum=self.retry_max, jitter=0.0).ceiling(
                    self.failures + 1
                )
                _log.warning(
                    "storing real-time bars failed (%s); %d kept for retry in %.1f s",
                    exc,
                    self.pending,
                    delay,
                )
            else:
                self.failures = 0
                delay = self.interval
        if self._pending:
            await self._final_flush()

    async def flush(self) -> None:
        """Write everything pending now (rows are kept if the write fails)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self.sink.write_provider_batch(_table(batch))
        except BaseException:
            # Put the batch back before anything newer (newer values of a key win).
            batch.update(self._pending)
            self._pending = batch
            raise
        self.written += len(batch)


def _table(rows: dict[RowKey, Row]) -> pa.Table:
    keys = list(rows)
    values = list(rows.values())
    return pa.table(
        {
            "symbol": [k[0] for k in keys],
            "timestamp": pa.array([k[3] for k in keys], pa.timestamp("us", tz="UTC")),
            "open": [v[0] for v in values],
            "high": [v[1] for v in values],
            "low": [v[2] for v in values],
            "close": [v[3] for v in values],
            "volume": [v[4] for v in values],
            "interval": [k[1] for k in keys],
            "provider": [k[2] for k in keys],
            "metadata": [v[5] for v in values],
        },
        schema=BAR_SCHEMA,
    )
