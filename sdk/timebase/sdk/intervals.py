"""The bar intervals TimeBase knows, and the arithmetic on them.

Conventions (the same in every component): a bar is keyed by its start instant in UTC; daily,
weekly and monthly bars at 00:00 UTC of their trading date; intraday bars at their real start
instant (US equities' hourly bars start at :30, so intraday bars are not forced onto a grid).
"""

from __future__ import annotations

import enum
from datetime import timedelta

from timebase.sdk.errors import InvalidIntervalError


class IntervalClass(enum.StrEnum):
    """Retention and storage class of an interval."""

    INTRADAY = "intraday"
    DAILY = "daily"  # 1d and longer


class Interval(enum.StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1wk"
    MO1 = "1mo"

    @classmethod
    def parse(cls, value: str) -> Interval:
        """The interval named `value`, or InvalidIntervalError listing the valid ones."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidIntervalError(
                f"unknown interval {value!r}; valid intervals: {', '.join(INTERVALS)}",
                interval=value,
            ) from None

    @property
    def nominal(self) -> timedelta:
        """Length of one bar (a month counts as 31 days, a week as 7: upper bounds)."""
        return _NOMINAL[self]

    @property
    def klass(self) -> IntervalClass:
        return IntervalClass.INTRADAY if self.nominal < timedelta(days=1) else IntervalClass.DAILY


_NOMINAL = {
    Interval.M1: timedelta(minutes=1),
    Interval.M5: timedelta(minutes=5),
    Interval.M15: timedelta(minutes=15),
    Interval.M30: timedelta(minutes=30),
    Interval.H1: timedelta(hours=1),
    Interval.H4: timedelta(hours=4),
    Interval.D1: timedelta(days=1),
    Interval.W1: timedelta(weeks=1),
    Interval.MO1: timedelta(days=31),
}

INTERVALS: tuple[str, ...] = tuple(i.value for i in Interval)
