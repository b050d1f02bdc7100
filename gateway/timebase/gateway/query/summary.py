"""A symbol's data summary as every door shows it: what is stored, per interval and provider.

summary = await symbol_summary(store, "aapl")   # SymbolSummary (series ordered by interval)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from timebase.calendars.model import Calendar
from timebase.calendars.slots import closed_parts, open_parts
from timebase.gateway.bar_request import check_symbol
from timebase.gateway.calendar_rules import MAX_PARTS
from timebase.sdk.intervals import INTERVALS, Interval
from timebase.store import Store, TimeRange
from timebase.store.summary import SeriesSummary

#: Most ranges listed in a series' `gaps`, and in its `closed` (the first ones; the answer says
#: when more follow), like `open_holes`. Intraday holes spanning years would otherwise list
#: every session.
MAX_GAP_RANGES = MAX_PARTS
#: The first window a hole is split in; each next one is twice as long.
_FIRST_WINDOW = timedelta(days=32)

_Parts = Callable[[Calendar | None, datetime, datetime, Interval], list[TimeRange]]


@dataclass(frozen=True)
class SeriesGaps:
    """What lies between a series' covered ranges, by its calendar (docs/calendars.md): `gaps`
    where the market was open (bars may be missing), `closed` where it was not; each at most
    `MAX_GAP_RANGES`, the first ones (`gaps_truncated`, `closed_truncated`: more follow)."""

    calendar: str | None
    gaps: tuple[TimeRange, ...]
    closed: tuple[TimeRange, ...]
    gaps_truncated: bool = False
    closed_truncated: bool = False


def series_gaps(
    series: SeriesSummary, cal: Calendar | None, limit: int = MAX_GAP_RANGES
) -> SeriesGaps:
    """The holes between `series.covered`, split by `cal` (none: every hole is a gap): at most
    `limit` of each, computed only as far as needed."""
    try:
        interval = Interval(series.interval)
    except ValueError:
        return SeriesGaps(None, (), ())
    holes = [
        (before.end, after.start)
        for before, after in zip(series.covered, series.covered[1:], strict=False)
    ]
    gaps = _first_parts(open_parts, cal, holes, interval, limit + 1)
    closed = _first_parts(closed_parts, cal, holes, interval, limit + 1)
    return SeriesGaps(
        None if cal is None else cal.name,
        tuple(gaps[:limit]),
        tuple(closed[:limit]),
        gaps_truncated=len(gaps) > limit,
        closed_truncated=len(closed) > limit,
    )


def _first_parts(
    parts: _Parts,
    cal: Calendar | None,
    holes: list[tuple[datetime, datetime]],
    interval: Interval,
    wanted: int,
) -> list[TimeRange]:
    """The first `wanted` ranges `parts` names in `holes` (in order), each hole split in
    windows of growing length so a long hole costs only what is listed."""
    out: list[TimeRange] = []
    for start, end in holes:
        first = len(out)  # ranges of different holes never touch (a covered range between)
        cursor, window = start, _FIRST_WINDOW
        while cursor < end and len(out) < wanted:
            stop = min(end, cursor + window)
            for part in parts(cal, cursor, stop, interval):
                if len(out) > first and out[-1].end >= part.start:  # cut by the window
                    out[-1] = TimeRange(out[-1].start, part.end)
                else:
                    out.append(part)
            cursor, window = stop, window * 2
        if len(out) >= wanted:
            break
    return out


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
