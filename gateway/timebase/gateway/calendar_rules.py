"""Which trading calendar applies to a request, and what it changes (docs/calendars.md).

    rules = CalendarRules(Calendars(data_dir / "calendars"), store)
    cal = await rules.for_symbol("AAPL", views, stored=["my-data"])   # Calendar | None

A provider's manifest may name a default calendar per symbol pattern (`calendars:`); an imported
data set may name one when it is ingested (`dataset_calendars`). The first provider able to
serve the symbol whose manifest names one wins, then the data sets storing it. No calendar: time
is continuous, as before calendars existed. A name that cannot be loaded is logged and treated
as no calendar for `RETRY_BROKEN_AFTER` seconds (then tried again), so a bad manifest never
fails reads.

The data sets' calendars are cached for `DATASET_CALENDAR_TTL` seconds (the table is not
versioned): a calendar set through `set_dataset_calendar` is seen at once by this gateway, by
other gateways of the same database within the TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from timebase.calendars.model import Calendar
from timebase.calendars.registry import Calendars
from timebase.calendars.slots import open_parts
from timebase.gateway.coverage_plan import settled_end
from timebase.gateway.providers import ProviderView
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import Interval
from timebase.store import Store, TimeRange

_log = logging.getLogger(__name__)

#: Flight schema-metadata key of a FlightInfo: JSON {symbol: calendar} of the symbols that have one.
CALENDARS_SCHEMA_KEY = "timebase.calendars"
#: A calendar that failed to load is tried again after this long (seconds).
RETRY_BROKEN_AFTER = 300.0
#: How long a data set's calendar (or its lack of one) is used without reading it again.
DATASET_CALENDAR_TTL = 60.0
#: Data sets remembered at most (the cache is emptied when it would hold more).
_MAX_DATASETS = 10_000


class CalendarRules:
    """Resolves the calendar of (symbol, provider) from manifests and data sets."""

    def __init__(
        self,
        calendars: Calendars,
        store: Store,
        configured: Callable[[], frozenset[str]] = frozenset,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calendars = calendars
        self.store = store
        #: The configured providers' names: their calendars come from manifests, never from
        #: the data sets table (which is then not read on their requests).
        self.configured = configured
        self.clock = clock
        #: When each calendar that could not be loaded last failed (`clock`).
        self._broken: dict[str, float] = {}
        #: Data set -> (read at, its calendar or None).
        self._datasets: dict[str, tuple[float, str | None]] = {}
        #: Bumped by every `set_dataset_calendar`: a read that started before is not cached.
        self._dataset_generation = 0

    def declared(
        self, symbol: str, views: Iterable[ProviderView], provider: str | None = None
    ) -> str | None:
        """The calendar the manifests of providers serving `symbol` name (`provider`: only its)."""
        for view in views:
            manifest = view.manifest
            if manifest is None or provider not in (None, view.slug):
                continue
            if not manifest.serves_symbol(symbol):
                continue
            name = manifest.calendar_for(symbol)
            if name is not None:
                return name
        return None

    async def name_for(
        self,
        symbol: str,
        views: Sequence[ProviderView],
        *,
        provider: str | None = None,
        stored: Iterable[str] = (),
    ) -> str | None:
        name = self.declared(symbol, views, provider)
        if name is not None:
            return name
        datasets = [provider] if provider is not None else sorted(set(stored))
        configured = self.configured()
        datasets = [p for p in datasets if p not in configured]
        if not datasets:
            return None
        named = await self.dataset_calendars(datasets)
        return next((named[p] for p in datasets if p in named), None)

    async def dataset_calendars(self, datasets: Sequence[str]) -> dict[str, str]:
        """The calendars the data sets among `datasets` named (cached, see the module)."""
        now = self.clock()
        known: dict[str, str | None] = {}
        for p in datasets:
            entry = self._datasets.get(p)
            if entry is not None and now - entry[0] < DATASET_CALENDAR_TTL:
                known[p] = entry[1]
        missing = [p for p in datasets if p not in known]
        if missing:
            generation = self._dataset_generation
            named = await self.store.dataset_calendars(missing)
            if generation == self._dataset_generation:
                if len(self._datasets) + len(missing) > _MAX_DATASETS:
                    self._datasets.clear()
                for p in missing:
                    self._datasets[p] = (now, named.get(p))
            known.update({p: named.get(p) for p in missing})
        return {p: c for p, c in known.items() if c is not None}

    async def set_dataset_calendar(self, datasets: Iterable[str], calendar: str) -> None:
        """The imported data sets `datasets` trade on `calendar` (stored; seen at once here)."""
        names = list(datasets)
        self._dataset_generation += 1
        try:
            await self.store.set_dataset_calendar(names, calendar)
        finally:
            for p in names:
                self._datasets.pop(p, None)

    async def for_symbol(
        self,
        symbol: str,
        views: Sequence[ProviderView],
        *,
        provider: str | None = None,
        stored: Iterable[str] = (),
    ) -> Calendar | None:
        name = await self.name_for(symbol, views, provider=provider, stored=stored)
        return None if name is None else await self.load(name)

    async def load(self, name: str) -> Calendar | None:
        """The calendar `name`, or None when it cannot be loaded: then it is not tried again
        for `RETRY_BROKEN_AFTER` seconds (the failure is logged once)."""
        failed_at = self._broken.get(name)
        if failed_at is not None and self.clock() - failed_at < RETRY_BROKEN_AFTER:
            return None
        try:
            cal = await self.calendars.get(name)
        except TimeBaseError as exc:
            now = self.clock()
            last = self._broken.get(name)
            if last is None or now - last >= RETRY_BROKEN_AFTER:  # not logged by a concurrent call
                _log.warning(
                    "calendar %s cannot be used (%s): continuous time, tried again in %g s",
                    name,
                    exc.message,
                    RETRY_BROKEN_AFTER,
                )
            self._broken[name] = now
            return None
        self._broken.pop(name, None)
        return cal


def has_open_time(cal: Calendar | None, start: datetime, end: datetime, interval: Interval) -> bool:
    """Whether bars of `interval` can be in [start, end) (always, without a calendar)."""
    return bool(open_parts(cal, start, end, interval))


#: Most PARTIAL_DATA ranges named for one missing range; the rest are named as one range.
MAX_PARTS = 20


def open_holes(cal: Calendar | None, hole: TimeRange, interval: Interval) -> list[TimeRange]:
    """The parts of a missing range where the market was open (at most `MAX_PARTS`)."""
    parts = open_parts(cal, hole.start, hole.end, interval)
    if len(parts) > MAX_PARTS:
        parts = [*parts[: MAX_PARTS - 1], TimeRange(parts[MAX_PARTS - 1].start, parts[-1].end)]
    return parts


def settled_gap(
    cal: Calendar | None,
    gap: TimeRange,
    interval: Interval,
    fetched_at: datetime | None,
    now: datetime,
) -> bool:
    """Whether a range missing from the coverage at the open end needs no fetch: the last fetch
    of the series' open end (`fetched_at`) reached it, and no session in it was open since
    (Friday's bars on a Sunday: the market closed after they were fetched)."""
    if cal is None or fetched_at is None or gap.start < settled_end(interval, fetched_at):
        return False
    return fresh_since(cal, gap, interval, fetched_at, now)


def fresh_since(
    cal: Calendar | None,
    tail: TimeRange,
    interval: Interval,
    fetched_at: datetime | None,
    now: datetime,
) -> bool:
    """Whether the stored open end `tail` is still fresh by the calendar: no session in it was
    open between the last fetch (`fetched_at`) and now. Without a calendar: never (the TTL
    alone decides)."""
    if cal is None:
        return False
    since = fetched_at or tail.start
    for part in open_parts(cal, tail.start, tail.end, interval):
        if part.end > since and part.start < now:
            # Daily parts are whole UTC days: the session's own hours decide.
            sessions = cal.sessions(part.start, part.end)
            if not sessions or any(
                opened < now and closed > since for s in sessions for opened, closed in s.parts()
            ):
                return False
    return True
