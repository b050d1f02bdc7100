"""Normalised series keys (upper-case symbol, checked interval)."""

from __future__ import annotations

from timebase.sdk.intervals import Interval
from timebase.store import bars
from timebase.store.bars import SeriesKey


def series_key(symbol: str, interval: Interval | str, provider: str) -> SeriesKey:
    """A normalised series key (upper-case symbol, checked interval)."""
    parsed = interval if isinstance(interval, Interval) else Interval.parse(interval)
    return SeriesKey(bars.normalize_symbol(symbol), parsed.value, provider)
