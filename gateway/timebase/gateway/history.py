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
6. Identical concurrent requests share one resolution (request coalescing). A request arriving
   once the resolution's lookup of the series' versions was sent may follow a write that lookup
   misses: it looks the versions up itself (batched with the other requests' lookups) and joins
   only when they are those the resolution read, else starts its own. One series is filled by
   one request at a time: a resolution that finds a range missing waits for the series and looks
   its coverage up again, so 200 identical cold queries cause one upstream fetch. Across
   gateways on one database, the store's per-series lease (`timebase.store.leases`) is held from
   the coverage check to the last stored window, so each missing range is fetched once.

Here: the entry points, coalescing and `limit` widening. Routing, provider-aware requests and
derived intervals are in `history_routes`, one series' fill (steps 2-4) in `history_fill`, the
answer (`BarAnswer`) in `bar_answer`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from timebase.calendars.model import Calendar
from timebase.calendars.registry import Calendars
from timebase.calendars.slots import last_bars_start
from timebase.core.config import GatewayLimits, RoutingConfig
from timebase.gateway.bar_answer import BarAnswer, routed_intervals
from timebase.gateway.bar_request import BarRequest, window_start
from timebase.gateway.calendar_rules import CalendarRules
from timebase.gateway.circuit_breaker import CircuitBreaker
from timebase.gateway.deferred_stores import StoreReports, drain, shared_context, take_over
from timebase.gateway.fetch_limits import FetchLimiter
from timebase.gateway.fetching import Fetcher
from timebase.gateway.history_routes import RangeResolution
from timebase.gateway.provider_client import ProviderClients
from timebase.gateway.providers import ProviderSource, configured_providers, earliest_data
from timebase.gateway.quota import QuotaTracker
from timebase.gateway.router import NegativeCache, RouteDecision, Router
from timebase.sdk.intervals import Interval
from timebase.store import Store
from timebase.store.bars import SeriesKey
from timebase.store.cached_reads import watch_lookups

__all__ = ["BarAnswer", "HistoricalBars"]

#: A `limit` query stops widening when a widening this long found no more bars.
_NOTHING_OLDER_SPAN = timedelta(days=30)


class HistoricalBars(RangeResolution):
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
        self.router = Router(self.config, self.quota, self.breaker, self.negative, self.clock)
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
        self._joinable = _Joinable()
        #: Requests waiting for each shared resolution.
        self._waiters: dict[asyncio.Task[BarAnswer], int] = {}
        #: Series lookups by how much the store held: `hit` (all of it, nothing fetched),
        #: `partial` (some, the rest fetched or refreshed), `miss` (nothing), for metrics.
        self.store_lookups: dict[str, int] = {"hit": 0, "partial": 0, "miss": 0}
        self._releases: set[asyncio.Task[None]] = set()
        #: The reports of each shared resolution whose stores may outlive it (`take_over`).
        self._shared: dict[asyncio.Task[BarAnswer], StoreReports | None] = {}
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
        # The stores cold answers left running finish, then their series are released.
        await drain(self._releases)
        await self.clients.close()

    # -- entry points -----------------------------------------------------------------------

    async def get(
        self, request: BarRequest, *, time_limit: float | None = None, read: bool = True
    ) -> BarAnswer:
        """The answer to `request`; identical concurrent requests share one resolution: never
        older than the last write committed before the request arrived. Until the
        resolution's version lookup is sent (`watch_lookups`), a request joins it as it is;
        from then on, only when its own lookup finds the versions the resolution read.

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
        resolution = self._joinable.unchecked.get(key)
        if resolution is None:
            late = self._joinable.checked.get(key)
            if late is not None:
                answer = await self._join_late(late, request)
                if answer is not None:
                    return answer
            resolution = self._start(key, request, time_limit, read)
        return await self._follow(resolution.task)

    def _start(
        self, key: tuple[Any, ...], request: BarRequest, time_limit: float | None, read: bool
    ) -> _Resolution:
        """Start resolving `request`, joinable under `key` until its version lookup is sent."""
        deadline = None if time_limit is None else time.monotonic() + time_limit
        context, shared = shared_context()
        resolution = _Resolution(self._joinable, key)
        context.run(watch_lookups, resolution)
        task = asyncio.create_task(self._answer(request, deadline, read), context=context)
        resolution.task = task
        self._joinable.unchecked[key] = resolution
        self._shared[task] = shared
        task.add_done_callback(resolution.done)
        return resolution

    async def _follow(self, task: asyncio.Task[BarAnswer]) -> BarAnswer:
        """Wait for a shared resolution. It goes on while any request waits for it, and stops
        (its provider fetches cancelled, what was fetched stored) when the last one goes away.
        Its stores left running are every request's: each takes them over (`take_over`)."""
        self._waiters[task] = self._waiters.get(task, 0) + 1
        shared = self._shared.get(task)
        try:
            answer = await asyncio.shield(task)
        finally:
            self._leave(task)
        return await take_over(shared, self.store, answer)

    async def _join_late(self, late: _Resolution, request: BarRequest) -> BarAnswer | None:
        """`late`'s answer if the versions a lookup sent now finds (batched with concurrent
        requests') are those `late` read: then no write to the series committed in between,
        and its answer is as new as one started now. None when they differ."""
        task = late.task
        self._waiters[task] = self._waiters.get(task, 0) + 1  # held while checking
        shared = self._shared.get(task)
        try:
            versions = await self.store.look_up_versions(
                request.symbol, routed_intervals(request.interval)
            )
            await late.read.wait()
            if late.versions != versions:
                return None
            answer = await asyncio.shield(task)
        finally:
            self._leave(task)
        return await take_over(shared, self.store, answer)

    def _leave(self, task: asyncio.Task[BarAnswer]) -> None:
        """A request stopped waiting for `task`: the last one cancels it."""
        left = self._waiters.pop(task) - 1
        if left:
            self._waiters[task] = left
        else:
            self._shared.pop(task, None)
            if not task.done():
                task.cancel()

    async def rank(self, symbol: str, interval: Interval) -> RouteDecision:
        """How the router would rank providers for (symbol, interval) now."""
        latest = await self.store.latest([symbol], routed_intervals(interval))
        views = self.providers()
        cal = await self.calendar_rules.for_symbol(
            symbol, views, stored=[k.provider for k in latest]
        )
        return self.router.route(symbol, interval, views, latest, log=False, cal=cal)

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
        async with self.store.snapshot(request.symbol, routed_intervals(request.interval)):
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
        intervals = routed_intervals(request.interval)
        return earliest_data(self.providers(), request.symbol, intervals, request.provider)


class _Joinable:
    """The resolutions requests may join, by request key (`HistoricalBars.get`)."""

    def __init__(self) -> None:
        #: Joined without checking: their version lookup is not sent yet.
        self.unchecked: dict[tuple[Any, ...], _Resolution] = {}
        #: Their lookup was sent: joined at the same versions only (`_join_late`).
        self.checked: dict[tuple[Any, ...], _Resolution] = {}


class _Resolution:
    """One shared resolution of `key` and the versions its lookup found (`watch_lookups`).

    Requests for `key` join it without checking until its lookup is sent; from then until it
    ends, a request joins it only when its own lookup finds the same versions (`_join_late`).
    """

    def __init__(self, joinable: _Joinable, key: tuple[Any, ...]) -> None:
        self.joinable = joinable
        self.key = key
        self.task: asyncio.Task[BarAnswer]
        #: The versions of its series its snapshot was opened at (None: not yet, or never).
        self.versions: dict[SeriesKey, int] | None = None
        #: Set once `versions` is known or the resolution ended without.
        self.read = asyncio.Event()

    def sent(self) -> None:
        joinable = self.joinable
        if joinable.unchecked.get(self.key) is self:
            del joinable.unchecked[self.key]
            joinable.checked[self.key] = self

    def found(self, versions: dict[SeriesKey, int]) -> None:
        if not self.read.is_set():  # its first snapshot: the request's series
            self.versions = versions
            self.read.set()

    def done(self, task: asyncio.Task[BarAnswer]) -> None:
        for resolutions in (self.joinable.unchecked, self.joinable.checked):
            if resolutions.get(self.key) is self:
                del resolutions[self.key]
        self.read.set()
        if not task.cancelled():
            task.exception()  # retrieved: waiters re-raise it


def _limiter(limits: GatewayLimits) -> FetchLimiter:
    return FetchLimiter(
        limits.max_fetches,
        limits.max_fetches_per_client,
        queue_timeout=limits.fetch_queue_timeout_seconds,
    )
