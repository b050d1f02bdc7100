"""Fetching from providers for the gateway core: failover, retries, circuit breaker, quota.

`Fetcher.fill(ranges, candidates, ...)` fetches each range from the first candidate that
delivers: transient errors are retried with exponential backoff and jitter, then the next
candidate is asked; NOT_FOUND (symbol-centric) is remembered in the negative cache;
UNAUTHENTICATED disables the provider until it restarts; RESOURCE_EXHAUSTED blocks it until its
RetryInfo delay. A provider dying mid-stream keeps what it delivered (stored with its coverage);
the rest comes from the next candidate. Every fetched window is stored with its coverage in one
transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from timebase.core.config import RoutingConfig
from timebase.gateway.bar_columns import concat
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import BarWarning, WarningCode
from timebase.gateway.circuit_breaker import CircuitBreaker
from timebase.gateway.coverage_plan import (
    Segment,
    lookback_error,
    open_end,
    settled_end,
    windows,
)
from timebase.gateway.fetch_limits import FetchLimiter
from timebase.gateway.provider_client import (
    FetchResult,
    ProviderCallError,
    ProviderClient,
    ProviderClients,
)
from timebase.gateway.quota import QuotaTracker
from timebase.gateway.request_metrics import FetchObserver
from timebase.gateway.router import Candidate, NegativeCache, Router
from timebase.gateway.skipped_warnings import skip_report
from timebase.sdk.backoff import Backoff
from timebase.sdk.errors import ErrorKind
from timebase.store import Store, TimeRange
from timebase.store.skipped import SkipReport
from timebase.store.validation import CleanBatch, clean_provider_batch

_log = logging.getLogger(__name__)

_ONE_US = timedelta(microseconds=1)


@dataclass
class Fill:
    """What fetching some ranges brought: segments now stored, errors, warnings."""

    segments: list[Segment] = field(default_factory=list)
    missing: list[TimeRange] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, ErrorKind] = field(default_factory=dict)
    retry_after: float | None = None
    warnings: list[BarWarning] = field(default_factory=list)
    #: Providers left out only because the range is older than their lookback window.
    out_of_window: set[str] = field(default_factory=set)
    #: Store in the background (`stores`, one after the other) instead of before going on;
    #: the fetched batches, cleaned once for their store and the answer, are kept (`fetched`)
    #: to answer from meanwhile (`cold_answer`).
    defer: bool = False
    fetched: list[asyncio.Task[CleanBatch]] = field(default_factory=list)
    stores: list[asyncio.Task[None]] = field(default_factory=list)

    async def stored(self) -> BaseException | None:
        """Wait for the deferred stores; the first failure (the stores after it are skipped)."""
        results = await asyncio.shield(asyncio.gather(*self.stores, return_exceptions=True))
        return next((r for r in results if isinstance(r, BaseException)), None)


class Fetcher:
    """Fetches ranges from ranked candidates and stores what they deliver."""

    def __init__(
        self,
        store: Store,
        config: RoutingConfig,
        clock: Callable[[], datetime],
        *,
        quota: QuotaTracker,
        breaker: CircuitBreaker,
        negative: NegativeCache,
        router: Router,
        clients: ProviderClients,
        monotonic: Callable[[], float] = time.monotonic,
        limiter: FetchLimiter | None = None,
    ) -> None:
        self.store = store
        #: Bounds concurrent provider fetches, overall and per client (`gateway` section).
        self.limiter = limiter or FetchLimiter()
        self.config = config
        #: Retries at the same provider: full jitter, uncapped (`retries` bounds them).
        self.backoff = Backoff(config.backoff_seconds, maximum=float("inf"), full_jitter=True)
        self.clock = clock
        self.quota = quota
        self.breaker = breaker
        self.negative = negative
        self.router = router
        self.clients = clients
        #: Seconds for the freshness of open ends (injectable: tests control time).
        self.monotonic = monotonic
        #: Upstream requests sent (windows fetched), for metrics and tests.
        self.upstream_requests = 0
        #: Bars received from providers (before validation), for metrics and tests.
        self.bars_received = 0
        #: (symbol, interval, provider) → monotonic time the open end was last fetched.
        self.open_end_fetched: dict[tuple[str, str, str], float] = {}
        #: slug → the address it had when disabled (a restart, i.e. a new address, re-enables).
        self.disabled_at: dict[str, str | None] = {}
        #: Where each upstream request's status and duration is recorded (the metrics).
        self.observer: FetchObserver | None = None

    async def fill(
        self,
        ranges: Sequence[TimeRange],
        candidates: Sequence[Candidate],
        request: BarRequest,
        deadline: float | None,
        symbol_centric: bool,
        *,
        defer: bool = False,
    ) -> Fill:
        """Fetch each range from the first candidate that delivers, failing over on errors
        (`defer`: store in the background, see `Fill.defer`)."""
        fill = Fill(defer=defer)
        now = self.clock()
        for gap in ranges:
            end = min(gap.end, now)
            if gap.start >= end:
                continue
            cursor = gap.start
            first = True
            for candidate in candidates:
                if cursor >= end:
                    break
                cursor = await self._fill_from(
                    candidate,
                    cursor,
                    end,
                    request=request,
                    deadline=deadline,
                    symbol_centric=symbol_centric,
                    fill=fill,
                    now=now,
                )
                if cursor >= end and not first and fill.errors:
                    fill.warnings.append(
                        BarWarning(
                            WarningCode.PROVIDER_FALLBACK,
                            f"served by {candidate.slug!r} after "
                            + "; ".join(f"{s}: {e}" for s, e in fill.errors.items()),
                            provider=candidate.slug,
                            start=gap.start,
                            end=end,
                        )
                    )
                first = False
            if cursor < end:
                fill.missing.append(TimeRange(cursor, end))
        return fill

    async def _fill_from(
        self,
        candidate: Candidate,
        start: datetime,
        end: datetime,
        *,
        request: BarRequest,
        deadline: float | None,
        symbol_centric: bool,
        fill: Fill,
        now: datetime,
    ) -> datetime:
        """Fetch [start, end) from one candidate; return how far it got."""
        slug = candidate.slug
        manifest = candidate.provider.manifest
        assert manifest is not None
        if slug in self.router.disabled or not self.breaker.allows(slug):
            disabled = self.router.disabled.get(slug)
            fill.errors.setdefault(slug, f"disabled: {disabled}" if disabled else "circuit open")
            return start
        remembered = self.negative.answer(slug, request.symbol) if symbol_centric else None
        if remembered is not None:
            fill.errors.setdefault(slug, remembered)
            fill.kinds.setdefault(slug, ErrorKind.NOT_FOUND)
            return start
        parts, too_old = windows(start, end, request.interval, manifest, now)
        if too_old is not None:
            fill.warnings.append(
                BarWarning(
                    WarningCode.PARTIAL_DATA,
                    f"{slug!r} keeps {manifest.lookback_days(request.interval.value)} days of "
                    f"{request.interval.value} bars; older ones are not available",
                    provider=slug,
                    start=too_old.start,
                    end=too_old.end,
                )
            )
        if not parts:  # too old (missing), or before the provider's earliest data (none exist)
            if too_old is None:
                return end
            if slug not in fill.errors:
                fill.errors[slug] = lookback_error(request.interval.value, manifest, now)
                fill.out_of_window.add(slug)
            return start
        cursor = parts[0].start
        client = await self.clients.get(slug, candidate.address)
        for window in parts:
            reached = await self._fetch_with_retries(
                client,
                candidate,
                window,
                request=request,
                deadline=deadline,
                symbol_centric=symbol_centric,
                fill=fill,
                now=now,
            )
            if reached is None:
                return start if cursor == parts[0].start else cursor
            cursor = reached
            if reached < window.end:
                return cursor
        return cursor

    async def _fetch_with_retries(
        self,
        client: ProviderClient,
        candidate: Candidate,
        window: TimeRange,
        **kw: Any,
    ) -> datetime | None:
        """Fetch one window holding a fetch slot (`limiter`: waits in line, or ServerBusy)."""
        async with self.limiter.slot():
            return await self._fetch_retrying(client, candidate, window, **kw)

    async def _fetch_retrying(
        self,
        client: ProviderClient,
        candidate: Candidate,
        window: TimeRange,
        *,
        request: BarRequest,
        deadline: float | None,
        symbol_centric: bool,
        fill: Fill,
        now: datetime,
    ) -> datetime | None:
        """Fetch one window; return how far it got (None: nothing), after retries."""
        slug = candidate.slug
        attempt = 0
        manifest = candidate.provider.manifest
        assert manifest is not None
        while True:
            await self.quota.refresh(slug)  # counts and blocks shared by every gateway
            quota = self.quota.status(slug, manifest.rate_limits)
            if not quota.available:
                fill.errors[slug] = f"RESOURCE_EXHAUSTED: {quota.reason}"
                fill.kinds[slug] = ErrorKind.RATE_LIMITED
                fill.retry_after = _min(fill.retry_after, quota.retry_after)
                return None
            if not self.breaker.begin(slug):
                fill.errors[slug] = "circuit open"
                fill.kinds[slug] = ErrorKind.UNAVAILABLE
                return None
            try:
                reached = await self._fetch_window(
                    client, request, window, deadline=deadline, fill=fill, now=now
                )
            except ProviderCallError as err:
                partial_end = err.partial_end
                await self._record_failure(err, request, symbol_centric, fill)
                if partial_end is not None:
                    return partial_end  # the rest comes from the next candidate
                if err.transient and attempt < self.config.retries:
                    attempt += 1
                    await asyncio.sleep(self.backoff.delay(attempt))
                    continue
                return None
            self.breaker.success(slug)
            fill.errors.pop(slug, None)
            fill.kinds.pop(slug, None)
            return reached

    async def _record_failure(
        self, err: ProviderCallError, request: BarRequest, symbol_centric: bool, fill: Fill
    ) -> None:
        slug = err.provider
        fill.errors[slug] = err.describe()
        fill.kinds[slug] = err.kind
        if err.transient:
            self.breaker.failure(slug)
        else:
            self.breaker.release(slug)
        if err.kind is ErrorKind.NOT_FOUND and symbol_centric:
            self.negative.add(slug, request.symbol, err.describe())
        elif err.kind is ErrorKind.UNAUTHENTICATED:
            self.router.disable(slug, f"UNAUTHENTICATED: {err.message}")
            client = self.clients.peek(slug)
            self.disabled_at[slug] = client.address if client else None
            _log.error(
                "ALERT: provider %s rejected its credentials and is disabled until it restarts: %s",
                slug,
                err.message,
                extra={"alert": "provider_unauthenticated", "provider": slug},
            )
        elif err.kind is ErrorKind.RATE_LIMITED:
            wait = err.retry_after if err.retry_after is not None else 60.0
            fill.retry_after = _min(fill.retry_after, wait)
            await self.quota.block(slug, wait)
        _log.warning(
            "provider %s failed for %s %s: %s",
            slug,
            request.symbol,
            request.interval.value,
            err.describe(),
            extra={"provider": slug, "code": err.status},
        )

    async def _fetch_window(
        self,
        client: ProviderClient,
        request: BarRequest,
        window: TimeRange,
        *,
        deadline: float | None,
        fill: Fill,
        now: datetime,
    ) -> datetime:
        """One provider request for `window`: stored with its coverage; return its end."""
        slug = client.slug
        symbol, interval = request.symbol, request.interval
        timeout = self.config.request_timeout_seconds
        if deadline is not None:
            timeout = min(timeout, max(0.001, deadline - time.monotonic()))
        self.upstream_requests += 1
        # Counted now; the shared count is written while the provider answers.
        counting = asyncio.create_task(self.quota.count(slug))
        counting.add_done_callback(_retrieved)
        result = FetchResult()
        tables: list[pa.Table] = []
        # A window's first batch is cleaned as soon as it arrives (for the deferred store and
        # the answer), while the call goes on; used when it is the window's only batch.
        first: asyncio.Task[CleanBatch] | None = None
        started = time.perf_counter()
        try:
            async for table in client.fetch(
                symbol, interval.value, window.start, window.end, rpc_timeout=timeout, result=result
            ):
                tables.append(table)
                self.bars_received += table.num_rows
                if fill.defer and len(tables) == 1:
                    first = asyncio.create_task(asyncio.to_thread(clean_provider_batch, table))
                    first.add_done_callback(_retrieved)
                elif first is not None:  # not the only one: the whole window is cleaned at once
                    first.cancel()
                    first = None
        except ProviderCallError as err:
            self._observe(slug, err.status, started)
            await counting  # before a block the failure may record
            err.partial_end = await self._store_partial(
                tables, request, slug, window, now=now, fill=fill
            )
            raise
        except asyncio.CancelledError:  # the client went away: keep what was fetched
            await self._store_partial(tables, request, slug, window, now=now, fill=fill)
            if fill.defer:  # stored before the request ends, as without deferred stores
                await fill.stored()
            raise
        self._observe(slug, "OK", started)
        await counting
        # The provider's own skips are remembered with the range (`skipped_warnings`).
        await self._store(
            concat(tables),
            request,
            slug,
            start=window.start,
            end=window.end,
            now=now,
            fill=fill,
            reported=skip_report(result.warnings),
            begun=first if len(tables) == 1 else None,
        )
        fill.warnings.extend(
            w for w in result.warnings if w.code is not WarningCode.INVALID_BARS_SKIPPED
        )
        if window.end > open_end(interval, now):
            self.open_end_fetched[(symbol, interval.value, slug)] = self.monotonic()
        return window.end

    async def _store_partial(
        self,
        tables: list[pa.Table],
        request: BarRequest,
        slug: str,
        window: TimeRange,
        *,
        now: datetime,
        fill: Fill,
    ) -> datetime | None:
        """Store the bars a window delivered before it broke off; return how far they reach."""
        received = concat(tables)
        if not received.num_rows:
            return None
        last = received.column("timestamp")[-1].as_py()
        partial_end: datetime = min(last + _ONE_US, window.end)
        await self._store(
            received, request, slug, start=window.start, end=partial_end, now=now, fill=fill
        )
        return partial_end

    def _observe(self, slug: str, status: str, started: float) -> None:
        if self.observer is not None:
            self.observer.fetched(slug, status, time.perf_counter() - started)

    async def _store(
        self,
        table: pa.Table,
        request: BarRequest,
        slug: str,
        *,
        start: datetime,
        end: datetime,
        now: datetime,
        fill: Fill,
        reported: SkipReport | None = None,
        begun: asyncio.Task[CleanBatch] | None = None,
    ) -> None:
        """Upsert `table`, record [start, end) as covered (up to the settled end) and remember
        whether bars of it were skipped (`skipped_warnings` warns from that memory). `begun`:
        `table`'s cleaning, started already (deferred stores)."""
        covered_end = min(end, settled_end(request.interval, now))

        async def store(rows: pa.Table | CleanBatch) -> None:
            await self.store.write_fetched(
                rows,
                request.symbol,
                request.interval,
                slug,
                start=start,
                end=end,
                covered_end=covered_end,
                reported=reported,
            )

        if not fill.defer:
            await store(table)
        else:  # stored in order, each after the one before it succeeded (none after a failure)
            before = fill.stores[-1] if fill.stores else None
            # Cleaned once, meanwhile: for the store and for the answer (`cold_answer`).
            cleaning = asyncio.create_task(self.store.clean_fetched(table, begun=begun))
            cleaning.add_done_callback(_retrieved)

            async def after_the_previous() -> None:
                cleaned = await cleaning
                if before is not None:
                    await before
                await store(cleaned)

            task = asyncio.create_task(after_the_previous())
            task.add_done_callback(_retrieved)  # a request that went away does not wait for it
            fill.fetched.append(cleaning)
            fill.stores.append(task)
        fill.segments.append(Segment(start, end, slug))


def _retrieved(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
