"""Bars for doors that stream straight from the store (Flight): plan, count, then read.

    planned = await plan_bars(history, requests)              # stores what is missing; plans
    planned = await plan_bars(history, requests, stored_only=True)   # never asks providers
    for batch in read_plan(plan, reader): ...                 # blocking, on the door's thread

A plan (`ReadPlan`) says which provider's stored bars serve each part of the range; the gateway
core makes it while answering (`HistoricalBars.get(read=False)`) so a plan streams exactly the
rows a REST or gRPC answer holds. Derived intervals are planned as their finer bars, read and
aggregated once, when streamed.

A plan is made at the versions of its symbol's series, looked up once (`Store.snapshot`); its
rows are counted from the hot tier at those versions when every range is there (`hot_counts`),
so a repeated query is planned and counted without reading or counting stored bars.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pyarrow as pa

from timebase.calendars.model import Calendar
from timebase.gateway.adjust_intervals import adjust_from_daily, daily_range, merge_daily
from timebase.gateway.adjustments import Adjust, adjust_bars
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import BarWarning, WarningCode
from timebase.gateway.coverage_plan import ReadPlan, Segment, assign, merge
from timebase.gateway.derived_intervals import derive
from timebase.gateway.history import BarAnswer, HistoricalBars
from timebase.gateway.query.hot_counts import hot_count, hot_table
from timebase.gateway.query.session_counts import count_session_rows, plan_calendars
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import Interval
from timebase.store import BarQuery, Dataset, Store, metadata_cache
from timebase.store.counting import EXACT_COUNT_BELOW
from timebase.store.metadata_cache import VersionSnapshot
from timebase.store.thread_reads import BarReader

_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class PlannedBars:
    """One plan per symbol that could be served, the rows they stream (estimated when large),
    and the warnings (a symbol that failed among several is a PARTIAL_DATA warning)."""

    plans: tuple[ReadPlan, ...]
    rows: int
    warnings: tuple[BarWarning, ...]
    #: The trading calendar that applied to each symbol that has one (docs/calendars.md).
    calendars: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDataset:
    """A stored series and the plan that reads all of it."""

    dataset: Dataset
    plan: ReadPlan


async def plan_bars(
    history: HistoricalBars, requests: Sequence[BarRequest], *, stored_only: bool = False
) -> PlannedBars:
    """Plans for `requests` (one symbol each); see the module docstring."""
    if stored_only:
        plans: list[ReadPlan] = []
        snaps: list[VersionSnapshot | None] = []
        for request in requests:
            async with history.store.snapshot(request.symbol, [request.interval]) as snap:
                plans.append(await plan_stored(history.store, request))
            snaps.append(snap)
        return PlannedBars(tuple(plans), await planned_rows(history, plans, snaps), ())
    answers = await asyncio.gather(
        *(_plan_one(history, request) for request in requests), return_exceptions=True
    )
    planned: list[ReadPlan] = []
    snapshots: list[VersionSnapshot | None] = []
    warnings: list[BarWarning] = []
    calendars: dict[str, str] = {}
    failures: list[tuple[BarRequest, TimeBaseError]] = []
    many = len(requests) > 1
    for request, outcome in zip(requests, answers, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, TimeBaseError):
                raise outcome
            failures.append((request, outcome))
            continue
        answer, snapshot = outcome
        assert answer.plan is not None  # range requests (no limit) are always planned
        planned.append(answer.plan)
        snapshots.append(snapshot)
        if answer.calendar is not None:
            calendars[request.symbol] = answer.calendar
        warnings += [
            replace(w, message=f"{request.symbol}: {w.message}") if many else w
            for w in answer.warnings
        ]
    if failures and not planned:
        raise failures[0][1]
    for request, exc in failures:
        warnings.append(
            BarWarning(
                WarningCode.PARTIAL_DATA,
                f"{request.symbol}: {exc}",
                start=request.start,
                end=request.end,
            )
        )
    rows = await planned_rows(history, planned, snapshots)
    return PlannedBars(tuple(planned), rows, tuple(warnings), calendars)


async def _plan_one(
    history: HistoricalBars, request: BarRequest
) -> tuple[BarAnswer, VersionSnapshot | None]:
    """The planned answer to `request` and the version snapshot it was made at (None when it
    joined another caller's identical request: its versions are that caller's)."""
    with metadata_cache.capturing() as opened:
        answer = await history.get(request, read=False)
    return answer, next((s for s in opened if s.symbol == request.symbol), None)


async def plan_stored(store: Store, request: BarRequest) -> ReadPlan:
    """Stored bars only, without asking providers.

    Provider-aware: that provider. Symbol-centric: where providers fetched the range, the
    gateway's sticky rule (coverage); the rest (e.g. imported data, which has no coverage) from
    the provider with the most stored bars of the series.
    """
    start, end = request.start, request.end
    symbol, interval = request.symbol, request.interval
    if request.provider is not None:
        return ReadPlan(symbol, interval, start, end, (Segment(start, end, request.provider),))
    datasets = await store.cached.datasets(symbol, interval)  # at an open snapshot's versions
    if not datasets:
        return ReadPlan(symbol, interval, start, end)
    by_rows = [d.provider for d in sorted(datasets, key=lambda d: (-d.rows, d.provider))]
    if len(by_rows) == 1:
        return ReadPlan(symbol, interval, start, end, (Segment(start, end, by_rows[0]),))
    covered = await store.covered_by_provider(symbol, interval, by_rows, start, end)
    segments, free = assign(start, end, covered, by_rows)
    segments += [Segment(hole.start, hole.end, by_rows[0]) for hole in free]
    return ReadPlan(symbol, interval, start, end, tuple(merge(segments)))


def segment_queries(plan: ReadPlan) -> list[BarQuery]:
    """The store queries of `plan`'s segments (bars of `derived_from` for a derived plan)."""
    interval = plan.derived_from or plan.interval
    return [
        BarQuery.build(plan.symbol, interval, s.start, s.end, provider=s.provider)
        for s in plan.segments
    ]


async def count_rows(
    store: Store, plans: Sequence[ReadPlan], calendars: Mapping[str, Calendar] | None = None
) -> int:
    """The rows `read_plan` streams for `plans` (the planner's estimate when large);
    `calendars`: those derived plans follow (`session_counts.plan_calendars`)."""
    rows = await store.count_bars(
        [q for p in plans if not p.derived_from for q in segment_queries(p)]
    )
    for plan in plans:
        cal = (calendars or {}).get(plan.calendar or "")
        if plan.derived_from is not None and cal is not None:  # sessions, not UTC buckets
            rows += await count_session_rows(store, plan, segment_queries(plan), cal)
        elif plan.derived_from is not None:
            rows += await store.count_buckets(
                segment_queries(plan), plan.interval, plan.start, plan.end
            )
    return rows


async def planned_rows(
    history: HistoricalBars,
    plans: Sequence[ReadPlan],
    snapshots: Sequence[VersionSnapshot | None],
) -> int:
    """The rows `read_plan` streams for `plans`, each made at its snapshot's versions: from the
    hot tier where it holds every range of a plan at those versions, else `count_rows`."""
    tier = history.store.hot_tier
    total = 0
    cold: list[ReadPlan] = []
    for plan, snap in zip(plans, snapshots, strict=True):
        rows = None
        if tier is not None and snap is not None:
            queries = segment_queries(plan)
            if plan.derived_from is None:
                rows = await asyncio.to_thread(hot_count, tier, queries, snap)
            else:
                rows = await _hot_derived_rows(history, plan, queries, snap)
        if rows is None:
            cold.append(plan)
        else:
            total += rows
    return total + await count_rows(history.store, cold, await plan_calendars(history, cold))


async def _hot_derived_rows(
    history: HistoricalBars, plan: ReadPlan, queries: list[BarQuery], snap: VersionSnapshot
) -> int | None:
    """A derived plan's rows: its finer bars from the hot tier, aggregated as `read_plan` does
    (None: not all in the tier); estimated like `count_buckets` above EXACT_COUNT_BELOW."""
    tier = history.store.hot_tier
    assert tier is not None
    assert plan.derived_from is not None
    source = await asyncio.to_thread(hot_count, tier, queries, snap)
    if source is None:
        return None
    if source >= EXACT_COUNT_BELOW:
        return max(1, int(source * plan.derived_from.nominal / plan.interval.nominal))
    cal = None
    if plan.calendar is not None:
        cal = await history.calendar_rules.calendars.get(plan.calendar)
    table = await asyncio.to_thread(hot_table, tier, queries, snap)
    if table is None:
        return None
    derived = await asyncio.to_thread(
        derive, table, plan.interval, plan.derived_from, plan.start, plan.end, cal=cal
    )
    return int(derived.num_rows)


def read_plan(
    plan: ReadPlan,
    reader: BarReader,
    declared: Mapping[str, frozenset[str]] | None = None,
    cal: Calendar | None = None,
) -> Iterator[pa.RecordBatch]:
    """The bars of `plan` (blocking reads; for a thread that is not the event loop's). An
    adjusted plan is read whole, then adjusted (`declared`: what providers' prices include).
    `cal` is the calendar `plan.calendar` names (derived buckets follow its sessions)."""
    queries = segment_queries(plan)
    reader.prepare(queries)  # the hot tier's one version lookup for the whole plan
    if plan.adjust is not Adjust.NONE:
        if plan.derived_from is None:
            table = reader.table(queries)
        else:
            table = derive(
                reader.table(queries),
                plan.interval,
                plan.derived_from,
                plan.start,
                plan.end,
                cal=cal,
            )
        if plan.interval is Interval.D1:
            yield from adjust_bars(table, plan.adjust, declared or {}).to_batches()
            return
        # Other intervals: from the events of the stored daily bars (`adjust_intervals`).
        start, end = daily_range(plan.start, plan.end)
        daily = merge_daily(
            [
                reader.table([BarQuery.build(plan.symbol, Interval.D1, start, end, provider=slug)])
                for slug in dict.fromkeys(s.provider for s in plan.segments)
            ]
        )
        adjusted = adjust_from_daily(table, plan.adjust, declared or {}, daily, plan.interval)
        yield from adjusted.to_batches()
        return
    if plan.derived_from is None:
        for query in queries:
            yield from reader.batches(query)
        return
    base = reader.table(queries)
    derived = derive(base, plan.interval, plan.derived_from, plan.start, plan.end, cal=cal)
    yield from derived.to_batches()


async def stored_datasets(store: Store, symbol: str | None = None) -> list[StoredDataset]:
    """Every stored series (of `symbol`), each with the plan that reads all of it."""
    out = []
    for ds in await store.datasets(symbol):
        end = ds.last + _ONE_US
        segment = Segment(ds.first, end, ds.provider)
        plan = ReadPlan(ds.symbol, Interval(ds.interval), ds.first, end, (segment,))
        out.append(StoredDataset(ds, plan))
    return out
