"""The historical path: answer a `BarRequest` from the store, fetching only what is missing.

    answer = await bars.get(request)          # BarAnswer(table, warnings)

1. Symbol-centric requests are routed (`router`); provider-aware ones go to the named provider
   only (or straight to the store when it has stored bars but no running add-on).
2. The coverage table says which ranges each provider already delivered; stored ranges are served
   from the provider that fetched them (sticky, see `coverage_plan`), only the gaps are fetched,
   split into windows within each provider's lookback and per-request limits. The open end near
   now is fetched again once older than a per-interval TTL; `refresh` fetches everything again.
3. Fetching fails over (`fetching.Fetcher`): transient errors are retried with exponential
   backoff and jitter, then the next candidate is asked; NOT_FOUND (symbol-centric) is
   remembered in a negative cache; UNAUTHENTICATED disables the provider; RESOURCE_EXHAUSTED
   blocks it until its RetryInfo delay. A provider dying mid-stream keeps what it delivered; the
   rest comes from the next candidate. Each provider has a circuit breaker; quota is counted
   against its manifest limits.
4. Every fetched batch is upserted and its coverage recorded in one transaction
   (`Store.write_fetched`). While that runs in the background, the fetched part of the answer
   is built from the fetched batches (`cold_answer`), exactly the rows a warm read returns;
   the stored part is read from the store. A store that fails leaves the answer whole, with a
   STORE_FAILED warning, and nothing recorded as covered. Plans (Flight) store first.
5. Intervals no candidate serves natively are derived from a finer one (`derived_intervals`).
6. Identical concurrent requests share one resolution (request coalescing), and one series is
   filled by one request at a time, so 200 identical cold queries cause one upstream fetch. Across
   gateways on one database, the store's per-series lease (`timebase.store.leases`) is held from
   the coverage check to the last stored window, so each missing range is fetched once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from timebase.calendars.model import Calendar
from timebase.calendars.registry import Calendars
from timebase.calendars.slots import last_bars_start
from timebase.core.config import GatewayLimits, RoutingConfig
from timebase.gateway.bar_request import BarRequest, window_start
from timebase.gateway.bar_warnings import BarWarning, WarningCode, dedupe
from timebase.gateway.calendar_rules import (
    CalendarRules,
    fresh_since,
    has_open_time,
    open_holes,
    settled_gap,
)
from timebase.gateway.circuit_breaker import CircuitBreaker
from timebase.gateway.cold_answer import cold_answer, with_stored
from timebase.gateway.coverage_plan import (
    FRESHNESS_TTL,
    ReadPlan,
    Segment,
    assign,
    merge,
    open_end,
)
from timebase.gateway.deferred_stores import series_hold
from timebase.gateway.derived_intervals import (
    DERIVED_FROM,
    SESSION_DERIVED_FROM,
    bucket_ceil,
    bucket_start,
    derive,
    session_aligned,
)
from timebase.gateway.fetch_limits import FetchLimiter
from timebase.gateway.fetching import Fetcher, Fill
from timebase.gateway.history_errors import no_bars_error
from timebase.gateway.history_reads import read_segments
from timebase.gateway.provider_client import (
    ProviderClients,
)
from timebase.gateway.providers import (
    ProviderSource,
    ProviderView,
    configured_providers,
    earliest_data,
)
from timebase.gateway.quota import QuotaTracker
from timebase.gateway.router import Candidate, Exclusion, NegativeCache, RouteDecision, Router
from timebase.gateway.skipped_warnings import skipped_warnings
from timebase.sdk.errors import (
    ProviderCapabilityMissing,
    ProviderNotFound,
    ProviderUnavailable,
)
from timebase.sdk.intervals import Interval
from timebase.store import BAR_SCHEMA, Store, TimeRange

_log = logging.getLogger(__name__)

DAY = timedelta(days=1)

#: A `limit` query stops widening when a widening this long found no more bars.
_NOTHING_OLDER_SPAN = timedelta(days=30)


@dataclass
class BarAnswer:
    """Bars (BAR_SCHEMA, ascending, one per timestamp) and the warnings that go with them."""

    table: pa.Table
    warnings: list[BarWarning] = field(default_factory=list)
    #: How `table` is read from the store (what Flight encodes into tickets to stream the same
    #: rows). None for `limit` answers, which are not a plain range read.
    plan: ReadPlan | None = None
    #: The trading calendar that applied (docs/calendars.md); None: continuous time.
    calendar: str | None = None


class HistoricalBars:
    """The gateway core for historical bars (shared by every door)."""

    def __init__(
        self,
        store: Store,
        source: ProviderSource,
        config: RoutingConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        limits: GatewayLimits | None = None,
        calendars: Calendars | None = None,
    ) -> None:
        self.store = store
        #: Which calendar applies to a symbol (`calendar_rules`); the default cache is the
        #: default data directory's.
        self.calendar_rules = CalendarRules(
            calendars or Calendars(Path(".timebase") / "calendars"),
            store,
            lambda: configured_providers(self.source),
        )
        self.source = source
        self.config = config or RoutingConfig()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.quota = QuotaTracker(store, clock=self.clock)
        self.breaker = CircuitBreaker(
            self.config.circuit_failures, self.config.circuit_reset_seconds
        )
        self.negative = NegativeCache(self.config.not_found_ttl_seconds)
        self.router = Router(self.config, self.quota, self.breaker, self.negative)
        self.clients = ProviderClients()
        self.fetcher = Fetcher(
            store,
            self.config,
            self.clock,
            quota=self.quota,
            breaker=self.breaker,
            negative=self.negative,
            router=self.router,
            clients=self.clients,
            monotonic=monotonic,
            limiter=_limiter(limits or GatewayLimits()),
        )
        self._inflight: dict[tuple[Any, ...], asyncio.Task[BarAnswer]] = {}
        #: Requests waiting for each shared resolution.
        self._waiters: dict[asyncio.Task[BarAnswer], int] = {}
        #: Series lookups by how much the store held: `hit` (all of it, nothing fetched),
        #: `partial` (some, the rest fetched or refreshed), `miss` (nothing), for metrics.
        self.store_lookups: dict[str, int] = {"hit": 0, "partial": 0, "miss": 0}
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @property
    def upstream_requests(self) -> int:
        """Upstream requests sent (windows fetched), for metrics and tests."""
        return self.fetcher.upstream_requests

    async def start(self) -> None:
        await self.quota.load()

    async def stop(self) -> None:
        await self.clients.close()

    # -- entry points -----------------------------------------------------------------------

    async def get(
        self, request: BarRequest, *, time_limit: float | None = None, read: bool = True
    ) -> BarAnswer:
        """The answer to `request`; identical concurrent requests share one resolution.

        `read=False` makes sure the bars are stored and plans where each part of the range is
        read from (`plan`) without reading them: for doors that stream straight from the store
        (Flight). Derived intervals are planned as the finer bars to aggregate. `limit` answers
        cannot be planned: they carry their table and no plan.
        """
        key = (
            read,
            request.symbol,
            request.interval,
            request.start,
            request.end,
            request.limit,
            request.provider,
            request.refresh,
            request.start_given,
        )
        task = self._inflight.get(key)
        if task is None:
            deadline = None if time_limit is None else time.monotonic() + time_limit
            task = asyncio.create_task(self._answer(request, deadline, read))
            self._inflight[key] = task

            def done(t: asyncio.Task[BarAnswer]) -> None:
                if self._inflight.get(key) is t:
                    del self._inflight[key]
                if not t.cancelled():
                    t.exception()  # retrieved: waiters re-raise it

            task.add_done_callback(done)
        # The resolution is shared: it goes on while any request waits for it, and stops (its
        # provider fetches cancelled, what was fetched stored) when the last one goes away.
        self._waiters[task] = self._waiters.get(task, 0) + 1
        try:
            return await asyncio.shield(task)
        finally:
            left = self._waiters.pop(task) - 1
            if left:
                self._waiters[task] = left
            elif not task.done():
                task.cancel()

    def providers(self) -> list[ProviderView]:
        views = list(self.source.providers())
        for view in views:  # a restarted provider (new address) gets another chance
            if (
                view.slug in self.fetcher.disabled_at
                and self.fetcher.disabled_at[view.slug] != view.address
            ):
                self.fetcher.disabled_at.pop(view.slug)
                self.router.disabled.pop(view.slug, None)
        return views

    async def rank(self, symbol: str, interval: Interval) -> RouteDecision:
        """How the router would rank providers for (symbol, interval) now."""
        latest = await self.store.latest([symbol], _routed_intervals(interval))
        return self.router.route(symbol, interval, self.providers(), latest, log=False)

    async def invalidate(
        self, symbol: str, interval: Interval, start: datetime, end: datetime, provider: str | None
    ) -> tuple[int, list[str], list[str]]:
        """Forget stored bars and coverage of [start, end); return (bars deleted, providers
        cleared, imported data sets kept).

        With `provider` named, only its series (a configured provider's or an imported data
        set). With none, every configured provider's series (`configured_providers`); imported
        data sets stored for the symbol are kept, since they cannot be fetched again, and
        returned so the answer can say so."""
        kept: list[str] = []
        if provider is not None:
            slugs = [provider]
        else:
            configured = configured_providers(self.source)
            latest = await self.store.latest([symbol], interval)
            stored = {key.provider for key in latest}
            slugs = sorted(stored & configured)
            slugs += [p.slug for p in self.providers() if p.slug not in slugs]
            kept = sorted(stored - configured)
        deleted = 0
        async with self._series_lock(symbol, interval):
            for slug in slugs:
                deleted += await self.store.invalidate(symbol, interval, slug, start, end)
                self.fetcher.open_end_fetched.pop((symbol, interval.value, slug), None)
        self.negative.forget(symbol)
        return deleted, slugs, kept

    # -- resolution -------------------------------------------------------------------------

    async def _answer(self, request: BarRequest, deadline: float | None, read: bool) -> BarAnswer:
        # One lookup of the series' versions; what was read at them comes from memory.
        async with self.store.snapshot(request.symbol, _routed_intervals(request.interval)):
            if request.limit is None:
                return await self._answer_range(request, deadline, read=read)
            return await self._answer_limited(request, deadline)

    async def _answer_limited(self, request: BarRequest, deadline: float | None) -> BarAnswer:
        """The `limit` most recent bars: a window of `limit` intervals back from the end, doubled
        only while it holds too few bars, never reaching before the providers' earliest data
        (or the request's start). Each widening fetches only what is not stored yet."""
        assert request.limit is not None
        limit = request.limit
        floor = self._earliest(request)
        if request.start_given:
            floor = max(floor, request.start)
        if floor >= request.end:  # the range lies before the providers' earliest data
            return await self._answer_range(request, deadline)
        cal = await self._calendar(request)
        bars = limit
        previous_rows, previous_start = 0, request.end
        while True:
            start = window_start(request.end, request.interval, bars, floor)
            if cal is not None:  # the calendar's bar slots: exactly `bars` of them
                slots_start = last_bars_start(cal, request.end, request.interval, bars)
                if slots_start is not None:
                    start = max(floor, slots_start)
            answer = await self._answer_range(request.with_range(start, request.end), deadline)
            rows = answer.table.num_rows
            if rows >= limit or start <= floor:
                break
            if rows and rows == previous_rows and previous_start - start >= _NOTHING_OLDER_SPAN:
                break  # a long widening found nothing older: the series begins here
            previous_rows, previous_start = rows, start
            bars *= 2
        table = answer.table
        if table.num_rows > limit:
            table = table.slice(table.num_rows - limit)
        return BarAnswer(table, answer.warnings, calendar=answer.calendar)

    async def _calendar(self, request: BarRequest) -> Calendar | None:
        """The calendar of `request`'s symbol (and provider, when named)."""
        stored: list[str] = []
        if request.provider is None:
            latest = await self.store.latest([request.symbol], request.interval)
            stored = [k.provider for k in latest]
        return await self.calendar_rules.for_symbol(
            request.symbol, self.providers(), provider=request.provider, stored=stored
        )

    def _earliest(self, request: BarRequest) -> datetime:
        """The earliest data of the providers that could answer `request`."""
        intervals = _routed_intervals(request.interval)
        return earliest_data(self.providers(), request.symbol, intervals, request.provider)

    async def _answer_range(
        self, request: BarRequest, deadline: float | None, *, read: bool = True
    ) -> BarAnswer:
        if request.provider is not None:
            return await self._provider_aware(request, deadline, read)
        return await self._symbol_centric(request, deadline, read)

    async def _symbol_centric(
        self, request: BarRequest, deadline: float | None, read: bool
    ) -> BarAnswer:
        providers = self.providers()
        latest = await self.store.latest([request.symbol], _routed_intervals(request.interval))
        decision = self.router.route(request.symbol, request.interval, providers, latest)
        cal = await self.calendar_rules.for_symbol(
            request.symbol, providers, stored=[k.provider for k in latest]
        )
        native = [c for c in decision.candidates if c.derived_from is None]
        derived = [c for c in decision.candidates if c.derived_from is not None]
        if not native and derived:
            return await self._derived(
                request, derived[0].derived_from, deadline, None, read, cal=cal
            )
        stored = sorted(
            {k.provider for k in latest if k.interval == request.interval.value}
            - {c.slug for c in native}
        )
        return await self._native(
            request,
            native,
            coverage_slugs=[c.slug for c in native] + stored,
            deadline=deadline,
            symbol_centric=True,
            excluded=decision.exclusions,
            read=read,
            cal=cal,
        )

    async def _provider_aware(
        self, request: BarRequest, deadline: float | None, read: bool
    ) -> BarAnswer:
        slug = request.provider
        assert slug is not None
        providers = self.providers()
        cal = await self.calendar_rules.for_symbol(request.symbol, providers, provider=slug)
        view = next((p for p in providers if p.slug == slug), None)
        if view is None or not view.ready:
            latest = await self.store.latest([request.symbol], provider=slug)
            if not latest:
                if view is None:
                    known = ", ".join(sorted(p.slug for p in providers)) or "none"
                    raise ProviderNotFound(
                        f"provider: unknown provider {slug!r} (providers: {known}; "
                        f"no stored bars from {slug!r} for {request.symbol})",
                        provider=slug,
                    )
                raise ProviderUnavailable(
                    f"provider {slug!r} is not running ({view.status}"
                    + (f": {view.last_error}" if view.last_error else "")
                    + f") and has no stored bars for {request.symbol}",
                    provider=slug,
                )
            table = await self._read_provider(request, slug) if read else BAR_SCHEMA.empty_table()
            warnings = []
            if view is not None:
                warnings.append(
                    BarWarning(
                        WarningCode.STALE_DATA,
                        f"provider {slug!r} is not running ({view.status}); served stored bars",
                        provider=slug,
                    )
                )
            plan = ReadPlan(
                request.symbol,
                request.interval,
                request.start,
                request.end,
                (Segment(request.start, request.end, slug),),
            )
            warnings += await skipped_warnings(self.store, plan)
            return BarAnswer(table, warnings, plan, _name(cal))
        latest = await self.store.latest([request.symbol], _routed_intervals(request.interval))
        decision = self.router.route(request.symbol, request.interval, providers, latest, only=slug)
        if not decision.candidates:
            exclusion = decision.exclusions.get(slug)
            reason = exclusion.message if exclusion is not None else "not available"
            if exclusion is not None and exclusion.reason.capability_missing:
                raise ProviderCapabilityMissing(
                    f"provider: {slug!r} {reason}", field="provider", provider=slug
                )
            if exclusion is not None and exclusion.error is not None:  # a remembered NOT_FOUND
                raise no_bars_error(request, Fill(), {slug: exclusion})
            raise ProviderUnavailable(f"provider {slug!r}: {reason}", provider=slug)
        candidate = decision.candidates[0]
        if candidate.derived_from is not None:
            return await self._derived(
                request, candidate.derived_from, deadline, slug, read, cal=cal
            )
        return await self._native(
            request,
            [candidate],
            coverage_slugs=[slug],
            deadline=deadline,
            symbol_centric=False,
            excluded={},
            read=read,
            cal=cal,
        )

    async def _derived(
        self,
        request: BarRequest,
        base: Interval | None,
        deadline: float | None,
        provider: str | None,
        read: bool,
        *,
        cal: Calendar | None = None,
    ) -> BarAnswer:
        """Bars of a coarser interval from the stored bars of `base` (fetched when missing)."""
        assert base is not None
        target = request.interval
        aligned = session_aligned(target, cal)
        if aligned:  # session buckets: a day's bars may start the UTC day before (Asia)
            start = request.start - (DAY if target is Interval.D1 else timedelta())
            end = request.end + max(target.nominal, DAY if target is Interval.D1 else timedelta())
        else:
            start = bucket_start(request.start, target)
            end = bucket_ceil(request.end, target)
        end = min(end, max(self.clock(), start + base.nominal))
        base_request = BarRequest(
            symbol=request.symbol,
            interval=base,
            start=start,
            end=end,
            provider=provider,
            refresh=request.refresh,
        )
        answer = await self._answer_range(base_request, deadline, read=read)
        assert answer.plan is not None
        plan = replace(
            answer.plan,
            interval=target,
            start=request.start,
            end=request.end,
            derived_from=base,
            calendar=_name(cal) if aligned else None,
        )
        if not read:
            return BarAnswer(BAR_SCHEMA.empty_table(), answer.warnings, plan, _name(cal))
        table = derive(
            answer.table, target, base, request.start, request.end, cal=cal if aligned else None
        )
        return BarAnswer(table, answer.warnings, plan, _name(cal))

    @contextlib.asynccontextmanager
    async def _series_lock(self, symbol: str, interval: Interval) -> AsyncIterator[None]:
        """One fill of (symbol, interval) at a time: in this process (an asyncio lock), then
        across every gateway on the database (the store's lease, held for the whole fetch)."""
        key = (symbol, interval.value)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with series_hold(key, lock, self.store.leases.hold(*key)):
            yield

    async def _native(
        self,
        request: BarRequest,
        candidates: list[Candidate],
        *,
        coverage_slugs: list[str],
        deadline: float | None,
        symbol_centric: bool,
        excluded: Mapping[str, Exclusion],
        read: bool = True,
        cal: Calendar | None = None,
    ) -> BarAnswer:
        symbol, interval = request.symbol, request.interval
        warnings: list[BarWarning] = []
        async with self._series_lock(symbol, interval):
            covered = await self.store.covered_by_provider(
                symbol, interval, coverage_slugs, request.start, request.end
            )
            segments, gaps = assign(
                request.start, request.end, covered, [c.slug for c in candidates]
            )
            now = self.clock()
            gaps, kept = self._session_gaps(request, gaps, coverage_slugs, now, cal)
            by_slug = {c.slug: c for c in candidates}
            fetching = bool(gaps)
            for seg in segments:
                stale = self._stale_part(
                    seg, symbol, interval, now, refresh=request.refresh, cal=cal
                )
                candidate = by_slug.get(seg.provider)
                if stale is None or candidate is None:
                    kept.append(seg)
                    continue
                fetching = True
                # Sticky: revise a stored range from the provider that fetched it.
                fill = await self.fetcher.fill(
                    [stale], [candidate], request, deadline, symbol_centric
                )
                warnings.extend(fill.warnings)
                kept.extend(s for s in fill.segments)
                if seg.start < stale.start:
                    kept.append(Segment(seg.start, stale.start, seg.provider))
                for hole in fill.missing:  # the stored bars stay, marked stale
                    kept.append(Segment(hole.start, hole.end, seg.provider))
                    code = WarningCode.STALE_DATA
                    if fill.retry_after is not None:
                        code = WarningCode.RATE_LIMITED
                    warnings.append(
                        BarWarning(
                            code,
                            f"could not refresh {symbol} {interval.value} from "
                            f"{seg.provider!r} ({'; '.join(fill.errors.values())}); "
                            "served the stored bars",
                            provider=seg.provider,
                            start=hole.start,
                            end=hole.end,
                        )
                    )
            lookup = "hit" if not fetching else "partial" if segments else "miss"
            self.store_lookups[lookup] += 1
            stored = merge(kept)
            # An answer that reads is built from the fetched batches while they are stored.
            fill = await self.fetcher.fill(
                gaps, candidates, request, deadline, symbol_centric, defer=read
            )
            warnings.extend(fill.warnings)
            kept.extend(fill.segments)
            cold = await cold_answer(fill, request, warnings)
        segments = merge(kept)
        if symbol_centric:
            plan = ReadPlan.clipped(symbol, interval, request.start, request.end, segments)
            table = (
                None
                if not read
                else await read_segments(self.store, request, segments)
                if cold is None
                else with_stored(cold, await read_segments(self.store, request, stored))
            )
        else:
            assert request.provider is not None
            plan = ReadPlan.clipped(
                symbol,
                interval,
                request.start,
                request.end,
                [Segment(request.start, request.end, request.provider)],
            )
            table = (
                None
                if not read
                else cold
                if cold is not None and not stored
                else await self._read_provider(request, request.provider)
            )
        if table is None:
            table = BAR_SCHEMA.empty_table()
        warnings += await skipped_warnings(self.store, plan)
        missing = [m for m in fill.missing if m.start < m.end]
        if missing and table.num_rows == 0 and not segments:
            raise no_bars_error(request, fill, excluded if symbol_centric else {})
        reasons = "; ".join(f"{slug}: {error}" for slug, error in fill.errors.items())
        for hole in (part for m in missing for part in open_holes(cal, m, interval)):
            warnings.append(
                BarWarning(
                    WarningCode.PARTIAL_DATA,
                    f"no bars for [{hole.start.isoformat()}, {hole.end.isoformat()})"
                    + (f": {reasons}" if reasons else ""),
                    start=hole.start,
                    end=hole.end,
                )
            )
        return BarAnswer(table, dedupe(warnings), plan, _name(cal))

    def _session_gaps(
        self,
        request: BarRequest,
        gaps: list[TimeRange],
        slugs: list[str],
        now: datetime,
        cal: Calendar | None,
    ) -> tuple[list[TimeRange], list[Segment]]:
        """The gaps to fetch, and the stored ranges to read instead (docs/calendars.md).

        Closed time holds no bars: nothing to fetch there, and it is no gap. Nor is a range the
        last fetch of the open end reached after its sessions closed (`settled_gap`): it is read
        from the provider that fetched it."""
        if cal is None:
            return gaps, []
        last = None if request.refresh else self._last_fetch(request, slugs, now)
        fetch: list[TimeRange] = []
        settled: list[Segment] = []
        for gap in gaps:
            if not has_open_time(cal, gap.start, gap.end, request.interval):
                continue
            if last is not None and settled_gap(cal, gap, request.interval, last[1], now):
                settled.append(Segment(gap.start, gap.end, last[0]))
            else:
                fetch.append(gap)
        return fetch, settled

    def _last_fetch(
        self, request: BarRequest, slugs: list[str], now: datetime
    ) -> tuple[str, datetime] | None:
        """Which provider last fetched the open end of the request's series (of `slugs`, in
        this process) and when (wall-clock time); None when none did."""
        fetched = self.fetcher.open_end_fetched
        times = [
            (fetched[key], slug)
            for slug in slugs
            if (key := (request.symbol, request.interval.value, slug)) in fetched
        ]
        if not times:
            return None
        mono, slug = max(times)
        return slug, now - timedelta(seconds=self.fetcher.monotonic() - mono)

    def _stale_part(
        self,
        seg: Segment,
        symbol: str,
        interval: Interval,
        now: datetime,
        *,
        refresh: bool,
        cal: Calendar | None = None,
    ) -> TimeRange | None:
        """The part of a stored segment to fetch again (refresh, or an open end past its TTL
        in which, by the calendar, a session was open since it was last fetched)."""
        if refresh:
            return TimeRange(seg.start, seg.end) if seg.start < now else None
        tail_start = max(seg.start, open_end(interval, now))
        if tail_start >= min(seg.end, now):
            return None
        fetched = self.fetcher.open_end_fetched.get((symbol, interval.value, seg.provider))
        ttl = FRESHNESS_TTL[interval].total_seconds()
        if fetched is not None and self.fetcher.monotonic() - fetched < ttl:
            return None
        tail = TimeRange(tail_start, seg.end)
        fetched_at = (
            None if fetched is None else now - timedelta(seconds=self.fetcher.monotonic() - fetched)
        )
        if fresh_since(cal, tail, interval, fetched_at, now):
            return None
        return tail

    # -- reading ----------------------------------------------------------------------------

    async def _read_provider(self, request: BarRequest, slug: str) -> pa.Table:
        return await self.store.read_table(
            request.symbol, request.interval, request.start, request.end, provider=slug
        )


def _limiter(limits: GatewayLimits) -> FetchLimiter:
    return FetchLimiter(
        limits.max_fetches,
        limits.max_fetches_per_client,
        queue_timeout=limits.fetch_queue_timeout_seconds,
    )


def _routed_intervals(interval: Interval) -> list[Interval]:
    """The intervals whose stored bars routing looks at: `interval` and the one it derives from."""
    base = DERIVED_FROM.get(interval) or SESSION_DERIVED_FROM.get(interval)
    return [interval] if base is None else [interval, base]


def _name(cal: Calendar | None) -> str | None:
    return None if cal is None else cal.name
