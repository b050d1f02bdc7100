"""The `watchlists` configuration key: symbols kept fresh without anyone asking.

    watchlists:
      majors:
        symbols: [AAPL, MSFT]
        intervals: [1d, 1h]        # default [1d]
        lookback_days: 365         # how far back the backfill reaches (default 365)
        schedule: every 1h         # seconds, `every N(s|m|h|d)` or cron (default every 1h)
        provider: yahoo-finance    # optional: only this provider (provider-aware)

Each watchlist is checked at load (timebase.gateway.watchlists runs them); errors name the
watchlist and its key, e.g. `timebase.yaml: watchlists: majors.intervals: unknown interval '2h'`.
Schedules: `timebase.core.schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timebase.core import config_values as values
from timebase.core.schedule import Schedule
from timebase.gateway.bar_request import check_symbol
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import INTERVALS, Interval

DEFAULT_SCHEDULE = Schedule.parse("every 1h")
DEFAULT_LOOKBACK_DAYS = 365
#: Most days one watchlist may reach back (a century).
MAX_LOOKBACK_DAYS = 36_500
#: Most symbol × interval items of one watchlist.
MAX_ITEMS = 10_000
_KEYS = ("symbols", "intervals", "lookback_days", "schedule", "provider")


@dataclass(frozen=True)
class Watchlist:
    name: str
    symbols: tuple[str, ...]
    intervals: tuple[Interval, ...] = (Interval.D1,)
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    schedule: Schedule = DEFAULT_SCHEDULE
    #: Only this provider (a provider-aware request); None lets the router choose.
    provider: str | None = None

    @property
    def items(self) -> list[tuple[str, Interval]]:
        """(symbol, interval) pairs, in the order they are fetched."""
        return [(s, i) for s in self.symbols for i in self.intervals]


def _symbols(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise ValueError(f"expected a non-empty list of symbols, got {raw!r}")
    found: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise ValueError(f"expected a symbol, got {item!r}")
        try:
            symbol = check_symbol(item, "symbol")
        except TimeBaseError as exc:
            raise ValueError(exc.message) from None
        if symbol not in found:
            found.append(symbol)
    return tuple(found)


def _intervals(raw: Any) -> tuple[Interval, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"expected a non-empty list of intervals, got {raw!r}")
    found: list[Interval] = []
    for item in items:
        try:
            interval = Interval(str(item).strip())
        except ValueError:
            raise ValueError(
                f"unknown interval {item!r}; valid intervals: {', '.join(INTERVALS)}"
            ) from None
        if interval not in found:
            found.append(interval)
    return tuple(found)


def _lookback(raw: Any) -> int:
    days = values.positive_int(raw)
    if days > MAX_LOOKBACK_DAYS:
        raise ValueError(f"at most {MAX_LOOKBACK_DAYS} days, got {raw!r}")
    return days


_PARSERS = {
    "symbols": _symbols,
    "intervals": _intervals,
    "lookback_days": _lookback,
    "schedule": Schedule.parse,
    "provider": values.slug,
}


def watchlists(raw: Any) -> tuple[Watchlist, ...]:
    """`{name: {symbols, intervals, lookback_days, schedule, provider}}`, checked."""
    if raw is None:
        return ()
    result: list[Watchlist] = []
    for name, entry in values.mapping(raw, "a mapping of watchlist name to settings").items():
        try:
            values.slug(name)
        except ValueError:
            raise ValueError(
                f"{name}: a watchlist name is lower-case letters, digits, '-' and '_'"
            ) from None
        given: dict[str, Any] = {}
        settings = values.mapping(entry if entry is not None else {}, "a mapping")
        for key, value in settings.items():
            parser = _PARSERS.get(key)
            if parser is None:
                raise ValueError(f"{name}.{key}: unknown key (known keys: {', '.join(_KEYS)})")
            try:
                given[key] = parser(value)
            except ValueError as exc:
                raise ValueError(f"{name}.{key}: {exc}") from None
        if "symbols" not in given:
            raise ValueError(f"{name}.symbols: required (a list of symbols)")
        watchlist = Watchlist(name=name, **given)
        if len(watchlist.items) > MAX_ITEMS:
            raise ValueError(
                f"{name}: {len(watchlist.items)} symbol × interval items; at most {MAX_ITEMS}"
            )
        result.append(watchlist)
    return tuple(result)
