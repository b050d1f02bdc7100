"""Which trading calendar applies to a request, and what it changes (docs/calendars.md).

    rules = CalendarRules(Calendars(data_dir / "calendars"), store)
    cal = await rules.for_symbol("AAPL", views, stored=["my-data"])   # Calendar | None

A provider's manifest may name a default calendar per symbol pattern (`calendars:`); an imported
data set may name one when it is ingested (`dataset_calendars`). The first provider able to
serve the symbol whose manifest names one wins, then the data sets storing it. No calendar: time
is continuous, as before calendars existed. A name that cannot be loaded is logged once and
treated as no calendar, so a bad manifest never fails reads.
"""

from __future__ import annotations

import logging
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


class CalendarRules:
    """Resolves the calendar of (symbol, provider) from manifests and data sets."""

    def __init__(
        self,
        calendars: Calendars,
        store: Store,
        configured: Callable[[], frozenset[str]] = frozenset,
    ) -> None:
        self.calendars = calendars
        self.store = store
        #: The configured providers' names: their calendars come from manifests, never from
        #: the data sets table (which is then not read on their requests).
        self.configured = configured
        self._broken: set[str] = set()

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
        named = await self.store.dataset_calendars(datasets)
        return next((named[p] for p in datasets if p in named), None)

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
        """The calendar `name`, or None (logged once) when it cannot be loaded."""
        if name in self._broken:
            return None
        try:
            return await self.calendars.get(name)
        except TimeBaseError as exc:
            self._broken.add(name)
            _log.warning("calendar %s cannot be used (%s): continuous time", name, exc.message)
            return None


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
