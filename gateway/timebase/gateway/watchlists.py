"""Watchlists kept fresh in the background: backfilled at start, refreshed on their schedule.

    runner = WatchlistRunner(history, config.watchlists)
    await runner.start()          # each watchlist runs now (the backfill), then on its schedule
    state = await runner.run("majors")     # run one now (what the schedule does)
    runner.states()               # progress and last run of each, for /metrics and the doors
    await runner.stop()

A run asks the core for `[now - lookback_days, now)` of every symbol × interval of the
watchlist, through the same path a client request takes (`HistoricalBars.get`, without reading
the bars back): the first run fetches everything that is missing (the backfill), later runs only
what is new since (the open end and any gap). Fetches count against each provider's quota like any
request, under the fetch client `watchlist:<name>`.

Quotas are never exceeded: an item whose providers have no quota left is skipped before any call
(status `skipped`, the reason in `message`), and a fetch the core stops because the quota ran out
mid-way leaves the item `partial`; both count in `timebase_watchlist_skips_total{reason="quota"}`
and are tried again at the next run. One failing item never stops the others; a run with a
failed item (e.g. its provider still starting) runs again within a minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from timebase.core.watchlists import Watchlist
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import WarningCode
from timebase.gateway.derived_intervals import DERIVED_FROM
from timebase.gateway.fetch_limits import fetch_client
from timebase.gateway.history import HistoricalBars
from timebase.sdk.errors import RateLimited, TimeBaseError
from timebase.sdk.intervals import Interval
from timebase.sdk.tasks import cancel_and_wait

_log = logging.getLogger(__name__)

#: The longest the scheduler sleeps before looking at the clock again (seconds).
MAX_SLEEP_SECONDS = 30.0
#: A run with failed items (e.g. providers still starting) runs again this soon at the latest.
FAILED_RETRY = timedelta(seconds=60)


@dataclass
class ItemState:
    """One symbol × interval of a watchlist: how its last run went."""

    symbol: str
    interval: Interval
    #: pending (never run) | ok | partial (some of it: quota or provider errors) | skipped
    #: (no quota left: nothing asked) | failed
    status: str = "pending"
    message: str = ""
    last_run: datetime | None = None
    #: The newest stored bar of the series (any provider), after the last run.
    latest_bar: datetime | None = None


@dataclass
class WatchlistState:
    """A watchlist's progress (the running or last run) and history."""

    watchlist: Watchlist
    items: list[ItemState]
    running: bool = False
    #: Items finished in the running run (or the last one).
    items_done: int = 0
    runs: int = 0
    last_start: datetime | None = None
    last_end: datetime | None = None
    #: ok | partial (some items partial, skipped or failed) | failed (every item failed); "" never.
    last_result: str = ""
    next_run: datetime | None = None
    #: Items skipped or cut short, by reason (quota, error), since start.
    skips: Counter[str] = field(default_factory=Counter)
    #: Completed runs by result, since start.
    results: Counter[str] = field(default_factory=Counter)

    @property
    def name(self) -> str:
        return self.watchlist.name

    @property
    def items_total(self) -> int:
        return len(self.items)


class WatchlistRunner:
    """See the module docstring. Lifecycle: sync __init__, async start()/stop()."""

    def __init__(self, history: HistoricalBars, watchlists: Sequence[Watchlist]) -> None:
        self.history = history
        self._states = {
            w.name: WatchlistState(w, [ItemState(s, i) for s, i in w.items]) for w in watchlists
        }
        self._task: asyncio.Task[None] | None = None
        self._locks = {name: asyncio.Lock() for name in self._states}

    def states(self) -> list[WatchlistState]:
        return list(self._states.values())

    def state(self, name: str) -> WatchlistState:
        return self._states[name]

    async def start(self) -> None:
        now = self.history.clock()
        for state in self._states.values():
            state.next_run = now  # the backfill: right away
        if self._states:
            self._task = asyncio.create_task(self._loop(), name="watchlists")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            now = self.history.clock()
            due = [s for s in self._states.values() if s.next_run is not None and s.next_run <= now]
            for state in due:
                try:
                    await self.run(state.name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("watchlist %s: the run failed", state.name)
                    state.next_run = state.watchlist.schedule.next_after(self.history.clock())
            upcoming = [s.next_run for s in self._states.values() if s.next_run is not None]
            if not upcoming:
                return  # cron expressions that never run again
            wait = (min(upcoming) - self.history.clock()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_SLEEP_SECONDS))

    async def run(self, name: str) -> WatchlistState:
        """Run watchlist `name` now (after a run of it in progress); its state afterwards.
        KeyError for an unknown name."""
        state = self._states[name]
        async with self._locks[name]:
            state.running, state.items_done = True, 0
            state.last_start = self.history.clock()
            try:
                for item in state.items:
                    await self._run_item(state, item)
                    state.items_done += 1
            finally:
                state.running = False
                state.last_end = self.history.clock()
                state.next_run = state.watchlist.schedule.next_after(state.last_end)
            statuses = {item.status for item in state.items}
            if statuses <= {"ok"}:
                state.last_result = "ok"
            elif statuses == {"failed"}:
                state.last_result = "failed"
            else:
                state.last_result = "partial"
            if "failed" in statuses and state.next_run is not None:
                state.next_run = min(state.next_run, state.last_end + FAILED_RETRY)
            state.runs += 1
            state.results[state.last_result] += 1
            _log.info(
                "watchlist %s: run %d %s (%d items)",
                name,
                state.runs,
                state.last_result,
                state.items_total,
                extra={"watchlist": name, "result": state.last_result},
            )
        return state

    async def _run_item(self, state: WatchlistState, item: ItemState) -> None:
        watchlist = state.watchlist
        now = self.history.clock()
        item.last_run = now
        request = BarRequest(
            symbol=item.symbol,
            interval=item.interval,
            start=now - timedelta(days=watchlist.lookback_days),
            end=now,
            provider=watchlist.provider,
        )
        try:
            exhausted = await self._quota_exhausted(item, watchlist.provider)
            if exhausted is not None:
                item.status, item.message = "skipped", f"quota exhausted: {exhausted}"
                state.skips["quota"] += 1
                _log.warning(
                    "watchlist %s: %s %s skipped: %s",
                    watchlist.name,
                    item.symbol,
                    item.interval.value,
                    item.message,
                )
                return
            with fetch_client(f"watchlist:{watchlist.name}"):
                answer = await self.history.get(request, read=False)
        except RateLimited as exc:
            item.status, item.message = "skipped", f"quota exhausted: {exc.message}"
            state.skips["quota"] += 1
        except TimeBaseError as exc:
            item.status, item.message = "failed", exc.message
            state.skips["error"] += 1
        else:
            problems = [
                w
                for w in answer.warnings
                if w.code in (WarningCode.PARTIAL_DATA, WarningCode.RATE_LIMITED)
            ]
            if not problems:
                item.status, item.message = "ok", ""
            else:
                item.status = "partial"
                item.message = "; ".join(w.message for w in problems)
                quota = any(
                    w.code is WarningCode.RATE_LIMITED or "RESOURCE_EXHAUSTED" in w.message
                    for w in problems
                )
                state.skips["quota" if quota else "error"] += 1
        try:
            item.latest_bar = await self._latest(item, watchlist.provider)
        except TimeBaseError as exc:  # the run's outcome stands; the newest bar is read next time
            _log.warning(
                "watchlist %s: %s %s: could not read the newest bar: %s",
                watchlist.name,
                item.symbol,
                item.interval.value,
                exc.message,
            )

    async def _quota_exhausted(self, item: ItemState, provider: str | None) -> str | None:
        """Why no provider for the item has quota left now, or None when one has (or when the
        router has no candidate at all: the core's own error says why)."""
        decision = await self.history.rank(item.symbol, item.interval)
        candidates = [c for c in decision.candidates if provider is None or c.slug == provider]
        if candidates and not any(c.quota.available for c in candidates):
            return "; ".join(f"{c.slug}: {c.quota.reason}" for c in candidates)
        return None

    async def _latest(self, item: ItemState, provider: str | None) -> datetime | None:
        intervals = [item.interval]
        base = DERIVED_FROM.get(item.interval)
        if base is not None:
            intervals.append(base)
        latest = await self.history.store.latest([item.symbol], intervals, provider=provider)
        own = [t for k, t in latest.items() if k.interval == item.interval.value]
        found = own or list(latest.values())
        return max(found) if found else None
