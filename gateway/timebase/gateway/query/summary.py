"""A symbol's data summary as every door shows it: what is stored, per interval and provider.

summary = await symbol_summary(store, "aapl")   # SymbolSummary (series ordered by interval)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from timebase.calendars.model import Calendar
from timebase.calendars.slots import closed_parts, open_parts
from timebase.gateway.bar_request import check_symbol
from timebase.sdk.intervals import INTERVALS, Interval
from timebase.store import Store, TimeRange
from timebase.store.summary import SeriesSummary


@dataclass(frozen=True)
class SeriesGaps:
    """What lies between a series' covered ranges, by its calendar (docs/calendars.md): `gaps`
    where the market was open (bars may be missing), `closed` where it was not."""

    calendar: str | None
    gaps: tuple[TimeRange, ...]
    closed: tuple[TimeRange, ...]


def series_gaps(series: SeriesSummary, cal: Calendar | None) -> SeriesGaps:
    """The holes between `series.covered`, split by `cal` (none: every hole is a gap)."""
    gaps: list[TimeRange] = []
    closed: list[TimeRange] = []
    try:
        interval = Interval(series.interval)
    except ValueError:
        return SeriesGaps(None, (), ())
    for before, after in zip(series.covered, series.covered[1:], strict=False):
        gaps += open_parts(cal, before.end, after.start, interval)
        closed += closed_parts(cal, before.end, after.start, interval)
    return SeriesGaps(None if cal is None else cal.name, tuple(gaps), tuple(closed))


@dataclass(frozen=True)
class SymbolSummary:
    """Every stored series of one symbol; totals over them (nothing stored: no series)."""

    symbol: str
    series: tuple[SeriesSummary, ...]
    #: Each series' gaps and closed time, by (interval, provider).
    gaps: Mapping[tuple[str, str], SeriesGaps] = field(default_factory=dict)

    @property
    def total_bars(self) -> int:
        return sum(s.count for s in self.series)

    @property
    def earliest(self) -> datetime | None:
        return min((s.earliest for s in self.series if s.earliest is not None), default=None)

    @property
    def latest(self) -> datetime | None:
        return max((s.latest for s in self.series if s.latest is not None), default=None)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(sorted({s.provider for s in self.series}))

    @property
    def intervals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.interval for s in self.series))


def _order(series: SeriesSummary) -> tuple[int, str, str]:
    # Intervals shortest first (1m … 1mo), then providers by name.
    rank = INTERVALS.index(series.interval) if series.interval in INTERVALS else len(INTERVALS)
    return rank, series.interval, series.provider


async def symbol_summary(
    store: Store,
    symbol: str,
    calendar_of: Callable[[str], Awaitable[Calendar | None]] | None = None,
) -> SymbolSummary:
    """What `store` holds for `symbol` (checked: InvalidRequestError naming `symbol`), with
    each series' gaps split by the calendar of its provider (`calendar_of(provider)`)."""
    checked = check_symbol(symbol)
    series = await store.summary(checked)
    calendars: dict[str, Calendar | None] = {}
    for provider in sorted({s.provider for s in series}):
        calendars[provider] = None if calendar_of is None else await calendar_of(provider)
    gaps = {(s.interval, s.provider): series_gaps(s, calendars[s.provider]) for s in series}
    return SymbolSummary(checked, tuple(sorted(series, key=_order)), gaps)
