"""Bars for doors that stream straight from the store (Flight): plan, count, then read.

    planned = await plan_bars(history, requests)              # stores what is missing; plans
    planned = await plan_bars(history, requests, stored_only=True)   # never asks providers
    for batch in read_plan(plan, reader): ...                 # blocking, on the door's thread

A plan (`ReadPlan`) says which provider's stored bars serve each part of the range; the gateway
core makes it while answering (`HistoricalBars.get(read=False)`) so a plan streams exactly the
rows a REST or gRPC answer holds. Derived intervals are planned as their finer bars, read and
aggregated once, when streamed.
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
from timebase.gateway.history import HistoricalBars
from timebase.gateway.query.session_counts import count_session_rows, plan_calendars
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import Interval
from timebase.store import BarQuery, Dataset, Store
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
        plans = [await plan_stored(history.store, request) for request in requests]
        return PlannedBars(tuple(plans), await count_rows(history.store, plans), ())
    answers = await asyncio.gather(
        *(history.get(request, read=False) for request in requests), return_exceptions=True
    )
    planned: list[ReadPlan] = []
    warnings: list[BarWarning] = []
    calendars: dict[str, str] = {}
    failures: list[tuple[BarRequest, TimeBaseError]] = []
    many = len(requests) > 1
    for request, answer in zip(requests, answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, TimeBaseError):
                raise answer
            failures.append((request, answer))
            continue
        assert answer.plan is not None  # range requests (no limit) are always planned
        planned.append(answer.plan)
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
    rows = await count_rows(history.store, planned, await plan_calendars(history, planned))
    return PlannedBars(tuple(planned), rows, tuple(warnings), calendars)


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
    datasets = [d for d in await store.datasets(symbol) if d.interval == interval.value]
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
