"""A symbol's data summary as every door shows it: what is stored, per interval and provider.

summary = await symbol_summary(store, "aapl")   # SymbolSummary (series ordered by interval)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timebase.gateway.bar_request import check_symbol
from timebase.sdk.intervals import INTERVALS
from timebase.store import Store
from timebase.store.summary import SeriesSummary


@dataclass(frozen=True)
class SymbolSummary:
    """Every stored series of one symbol; totals over them (nothing stored: no series)."""

    symbol: str
    series: tuple[SeriesSummary, ...]

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


async def symbol_summary(store: Store, symbol: str) -> SymbolSummary:
    """What `store` holds for `symbol` (checked: InvalidRequestError naming `symbol`)."""
    checked = check_symbol(symbol)
    series = await store.summary(checked)
    return SymbolSummary(checked, tuple(sorted(series, key=_order)))
