"""Filling one series' range (the historical path's step 2-4, `timebase.gateway.history`):
the coverage says what is stored, the gaps and the stale open end are fetched, the answer is
read from the store or built from the fetched batches; one fill of a series at a time."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta

import pyarrow as pa

from timebase.calendars.model import Calendar
from timebase.gateway.bar_answer import BarAnswer, calendar_name
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import BarWarning, WarningCode, dedupe
from timebase.gateway.calendar_rules import fresh_since, has_open_time, open_holes, settled_gap
from timebase.gateway.cold_answer import cold_answer, with_stored
from timebase.gateway.coverage_plan import FRESHNESS_TTL, ReadPlan, Segment, assign, merge, open_end
from timebase.gateway.deferred_stores import series_hold
from timebase.gateway.fetching import Fetcher
from timebase.gateway.history_errors import no_bars_error
from timebase.gateway.history_reads import read_segments
from timebase.gateway.router import Candidate, Exclusion
from timebase.gateway.skipped_warnings import skipped_warnings
from timebase.sdk.intervals import Interval
from timebase.store import BAR_SCHEMA, Store, TimeRange

#: `SeriesFill._stored_plan`: (stored segments, gaps to fetch, stored ranges kept, now).
_StoredPlan = tuple[list[Segment], list[TimeRange], list[Segment], datetime]


class SeriesFill:
    """Fills a series' range for `HistoricalBars` (which it is mixed into)."""

    store: Store
    fetcher: Fetcher
    clock: Callable[[], datetime]
    store_lookups: dict[str, int]
    _locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock]
    #: Releases of series held until the stores their fill left running finish (`stop`).
    _releases: set[asyncio.Task[None]]

    @contextlib.asynccontextmanager
    async def _series_lock(self, symbol: str, interval: Interval) -> AsyncIterator[None]:
        """One fill of (symbol, interval) at a time: in this process (an asyncio lock), then
        across every gateway on the database (the store's lease, held for the whole fetch)."""
        key = (symbol, interval.value)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with series_hold(key, lock, self.store.leases.hold(*key), self._releases):
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
        by_slug = {c.slug: c for c in candidates}
        # Read at the request's version snapshot, the stored ranges may already hold everything
        # (fresh): then nothing is fetched, the fill needs neither the series lock nor the lease
        # (a database round trip each way), and the answer is read at the snapshot's versions.
        first = await self._stored_plan(request, candidates, coverage_slugs, cal)
        unlocked = self._nothing_to_fetch(request, first, by_slug, cal)
        async with contextlib.nullcontext() if unlocked else self._series_lock(symbol, interval):
            if unlocked:
                segments, gaps, kept, now = first
            else:  # under the lease: coverage as of the last fill (`leases`)
                segments, gaps, kept, now = await self._stored_plan(
                    request, candidates, coverage_slugs, cal
                )
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
        return BarAnswer(table, dedupe(warnings), plan, calendar_name(cal))

    async def _stored_plan(
        self,
        request: BarRequest,
        candidates: list[Candidate],
        coverage_slugs: list[str],
        cal: Calendar | None,
    ) -> _StoredPlan:
        """What the coverage holds of the request's range (segments), the gaps to fetch, the
        stored ranges read instead of gaps (`_session_gaps`), and the time it was decided at."""
        covered = await self.store.covered_by_provider(
            request.symbol, request.interval, coverage_slugs, request.start, request.end
        )
        segments, gaps = assign(request.start, request.end, covered, [c.slug for c in candidates])
        now = self.clock()
        gaps, kept = self._session_gaps(request, gaps, coverage_slugs, now, cal)
        return segments, gaps, kept, now

    def _nothing_to_fetch(
        self,
        request: BarRequest,
        plan: _StoredPlan,
        by_slug: Mapping[str, Candidate],
        cal: Calendar | None,
    ) -> bool:
        """No gap, and no stored segment whose open end is due a refresh from its provider."""
        segments, gaps, _, now = plan
        return not gaps and all(
            by_slug.get(seg.provider) is None
            or self._stale_part(
                seg, request.symbol, request.interval, now, refresh=request.refresh, cal=cal
            )
            is None
            for seg in segments
        )

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
