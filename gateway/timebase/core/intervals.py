"""Moved: `timebase.sdk.intervals` (providers need it too); re-exported for the old path."""

from timebase.sdk.intervals import (
    INTERVALS,
    Interval,
    IntervalClass,
)

__all__ = [
    "INTERVALS",
    "Interval",
    "IntervalClass",
]
