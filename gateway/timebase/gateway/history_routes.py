"""Resolving a range request (the historical path's step 1 and 5, `timebase.gateway.history`):
symbol-centric requests are routed, provider-aware ones go to the named provider (or its stored
bars), intervals no candidate serves natively are derived from a finer one."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from timebase.calendars.model import Calendar
from timebase.gateway.bar_answer import BarAnswer, calendar_name, routed_intervals
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import BarWarning, WarningCode
from timebase.gateway.calendar_rules import CalendarRules
from timebase.gateway.coverage_plan import ReadPlan, Segment
from timebase.gateway.derived_intervals import bucket_ceil, bucket_start, derive, session_aligned
from timebase.gateway.fetching import Fill
from timebase.gateway.history_errors import no_bars_error
from timebase.gateway.history_fill import SeriesFill
from timebase.gateway.providers import ProviderSource, ProviderView
from timebase.gateway.router import Router
from timebase.gateway.skipped_warnings import skipped_warnings
from timebase.sdk.errors import ProviderCapabilityMissing, ProviderNotFound, ProviderUnavailable
from timebase.sdk.intervals import Interval
from timebase.store import BAR_SCHEMA

DAY = timedelta(days=1)


class RangeResolution(SeriesFill):
    """Resolves a request's range for `HistoricalBars` (which it is mixed into)."""

    source: ProviderSource
    router: Router
    calendar_rules: CalendarRules

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
        latest = await self.store.latest([request.symbol], routed_intervals(request.interval))
        cal = await self.calendar_rules.for_symbol(
            request.symbol, providers, stored=[k.provider for k in latest]
        )
        decision = self.router.route(
            request.symbol, request.interval, providers, latest, cal=cal, explain=False
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
            # Stored bars at the routed intervals (cached at the snapshot's versions), else at
            # any interval (only to tell "no such data" from "nothing in this interval").
            routed = routed_intervals(request.interval)
            latest = await self.store.latest([request.symbol], routed, provider=slug)
            if not latest:
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
            return BarAnswer(table, warnings, plan, calendar_name(cal))
        latest = await self.store.latest([request.symbol], routed_intervals(request.interval))
        decision = self.router.route(
            request.symbol, request.interval, providers, latest, only=slug, explain=False
        )
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
            calendar=calendar_name(cal) if aligned else None,
        )
        if not read:
            return BarAnswer(BAR_SCHEMA.empty_table(), answer.warnings, plan, calendar_name(cal))
        table = derive(
            answer.table, target, base, request.start, request.end, cal=cal if aligned else None
        )
        return BarAnswer(table, answer.warnings, plan, calendar_name(cal))
