"""Cold answers that do not wait for their stores, for doors that report the outcome after the data.

    with reporting_stores() as reports:          # a door that can warn after the data (gRPC
        answer = await history.get(request)      # streams: the trailing metadata)
    ... stream answer.table ...
    warnings = await reports.settle(store)       # STORE_FAILED, INVALID_BARS_SKIPPED, once stored

    async with series_hold(key, lock, lease):    # HistoricalBars' fill of one series
        ...                                      # cold_answer may leave its stores running:
                                                 # the lock and lease are released after them

Inside `reporting_stores`, `cold_answer` answers from the fetched batches without waiting for
the deferred stores (`Fill.stores`), and hands them to `reports`. The series stays held
(`series_hold`: this process's lock and the cross-gateway lease) until those stores finish, so a
concurrent request of the series, here or on another gateway, still finds the range stored or
fetches it itself after a failure: every missing range is still fetched once. `settle` waits for
the stores and gives the warnings they decide: `STORE_FAILED` for a store that failed (nothing
recorded as covered), and the `INVALID_BARS_SKIPPED` ones read from what the store remembered.
Without `reporting_stores` (every other door), `cold_answer` waits for the stores as before.

Identical concurrent requests share one resolution (`HistoricalBars.get`), which runs with
reports of its own (`shared_context`) when the request that started it can report later. Each
request then takes its share (`take_over`): a door that reports later settles the shared stores
after its data like its own; any other door waits for them and gets their warnings in the
answer. So every request coalesced onto a fill learns its STORE_FAILED (docs/hot-tier.md, "Cold
answers, door by door"). `HistoricalBars.stop` awaits the releases still waiting for stores
(`drain`), so no lease outlives the store it guards.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace

from timebase.gateway.bar_answer import BarAnswer
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import BarWarning, WarningCode, dedupe
from timebase.gateway.coverage_plan import ReadPlan, Segment
from timebase.gateway.skipped_warnings import skipped_warnings
from timebase.sdk.errors import TimeBaseError
from timebase.store import Store, metadata_cache
from timebase.store.leases import FIRST_POLL

_log = logging.getLogger(__name__)


@dataclass
class PendingStore:
    """Deferred stores of one fill left running by its answer."""

    request: BarRequest
    segments: list[Segment]
    outcome: asyncio.Task[BaseException | None]


@dataclass
class StoreReports:
    """The stores a door's answer did not wait for (see the module docstring)."""

    pending: list[PendingStore] = field(default_factory=list)

    async def settle(self, store: Store, plan: ReadPlan | None) -> list[BarWarning]:
        """Wait for the stores; the warnings they decide (none when nothing was left running).
        `plan`: the answer's plan, whose remembered skipped ranges are read once stored."""
        if not self.pending:
            return []
        warnings = []
        for entry in self.pending:
            error = await asyncio.shield(entry.outcome)
            if error is not None:
                warnings.append(store_failed(entry.request, entry.segments, error))
        if plan is not None:
            try:
                warnings += await skipped_warnings(store, plan)
            except TimeBaseError as exc:  # the data is sent: warn with what is known
                _log.warning("could not read the skipped ranges of %s: %s", plan.symbol, exc)
        return warnings


_REPORTS: contextvars.ContextVar[StoreReports | None] = contextvars.ContextVar(
    "timebase_store_reports", default=None
)
_HELD: contextvars.ContextVar[list[asyncio.Task[BaseException | None]] | None] = (
    contextvars.ContextVar("timebase_series_held", default=None)
)


@contextlib.contextmanager
def reporting_stores() -> Iterator[StoreReports]:
    """Within the block, cold answers leave their stores to `settle` (see the module doc)."""
    reports = StoreReports()
    token = _REPORTS.set(reports)
    try:
        yield reports
    finally:
        _REPORTS.reset(token)


def shared_context() -> tuple[contextvars.Context, StoreReports | None]:
    """The context to run a resolution that coalesced requests share in, and its reports: its
    own `StoreReports` when the request starting it reports later (None: it waits for its
    stores, whose warnings are then in its answer). Every request gives the answer to
    `take_over`."""
    shared = StoreReports() if _REPORTS.get() is not None else None
    context = contextvars.copy_context()
    context.run(_REPORTS.set, shared)
    return context, shared


async def take_over(shared: StoreReports | None, store: Store, answer: BarAnswer) -> BarAnswer:
    """This request's share of the stores a shared resolution left running (`shared`): a door
    that reports later settles them after its data, as its own; any other waits for them here
    and gets their warnings in the answer."""
    if shared is None or not shared.pending:
        return answer
    own = _REPORTS.get()
    if own is not None:
        own.pending.extend(shared.pending)
        return answer
    late = await shared.settle(store, answer.plan)
    if not late:
        return answer
    return replace(answer, warnings=dedupe([*answer.warnings, *late]))


async def drain(releases: set[asyncio.Task[None]]) -> None:
    """Wait until the series held for stores left running (`series_hold(..., releases)`) are
    released: their stores finished (or failed) and their locks and leases are let go."""
    while releases:
        await asyncio.gather(*list(releases), return_exceptions=True)


@contextlib.contextmanager
def waiting_for_stores() -> Iterator[None]:
    """Within the block, cold answers wait for their stores (reads that need what was stored,
    e.g. the daily bars an adjustment reads back), even inside `reporting_stores`."""
    token = _REPORTS.set(None)
    try:
        yield
    finally:
        _REPORTS.reset(token)


def leave_running(
    request: BarRequest, segments: list[Segment], outcome: asyncio.Task[BaseException | None]
) -> bool:
    """Hand the stores of a cold answer to the door's `StoreReports` and the series hold; False
    when the answer must wait for them (no door reports later, or no series is held)."""
    reports, held = _REPORTS.get(), _HELD.get()
    if reports is None or held is None:
        return False
    reports.pending.append(PendingStore(request, segments, outcome))
    held.append(outcome)
    return True


@contextlib.asynccontextmanager
async def series_hold(
    series: tuple[str, str],
    lock: asyncio.Lock,
    lease: AbstractAsyncContextManager[None],
    releases: set[asyncio.Task[None]],
) -> AsyncIterator[None]:
    """Hold `lock`, then `lease` (of `series`, (symbol, interval)), for the block and until the
    stores it left running finish (released by a task kept in `releases` until it ran, for
    `drain`).

    A hold that had to wait (the series was being filled here, or on another gateway) makes the
    request's version snapshot forget the series: taken before the wait, it may predate what
    the other fill stored, and its cached coverage would fetch that range again."""
    loop = asyncio.get_running_loop()
    waited = lock.locked()
    stack = contextlib.AsyncExitStack()
    await stack.enter_async_context(lock)
    asked = loop.time()
    try:
        await stack.enter_async_context(lease)
    except BaseException:
        await stack.aclose()
        raise
    if waited or loop.time() - asked >= FIRST_POLL:  # polled: another gateway held it
        metadata_cache.forget(*series)
    running: list[asyncio.Task[BaseException | None]] = []
    token = _HELD.set(running)
    try:
        yield
    finally:
        _HELD.reset(token)
        if not running:
            await stack.aclose()
        else:
            release = asyncio.create_task(_release_after(running, stack))
            releases.add(release)
            release.add_done_callback(releases.discard)


async def _release_after(
    running: list[asyncio.Task[BaseException | None]], stack: contextlib.AsyncExitStack
) -> None:
    try:
        await asyncio.gather(*running, return_exceptions=True)
    finally:
        try:
            await stack.aclose()
        except Exception:  # the lease's connection is gone: the server released it
            _log.warning("could not release a series after its stores", exc_info=True)


def store_failed(request: BarRequest, segments: list[Segment], error: BaseException) -> BarWarning:
    """The STORE_FAILED warning of a fill of `request` whose store failed with `error`."""
    _log.warning(
        "storing bars fetched for %s %s failed: %s",
        request.symbol,
        request.interval.value,
        error,
        extra={"symbol": request.symbol, "interval": request.interval.value},
    )
    return BarWarning(
        WarningCode.STORE_FAILED,
        f"the bars fetched for {request.symbol} {request.interval.value} could not be "
        f"stored ({error}); they are in this answer and will be fetched again next time",
        start=min(s.start for s in segments),
        end=max(s.end for s in segments),
    )
