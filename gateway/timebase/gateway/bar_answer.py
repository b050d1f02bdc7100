"""What the historical path answers (`HistoricalBars.get`): bars, their warnings, and how they
are read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from timebase.calendars.model import Calendar
from timebase.gateway.bar_warnings import BarWarning
from timebase.gateway.coverage_plan import ReadPlan
from timebase.gateway.derived_intervals import DERIVED_FROM, SESSION_DERIVED_FROM
from timebase.sdk.intervals import Interval


@dataclass
class BarAnswer:
    """Bars (BAR_SCHEMA, ascending, one per timestamp) and the warnings that go with them."""

    table: pa.Table
    warnings: list[BarWarning] = field(default_factory=list)
    #: How `table` is read from the store (what Flight encodes into tickets to stream the same
    #: rows). None for `limit` answers, which are not a plain range read.
    plan: ReadPlan | None = None
    #: The trading calendar that applied (docs/calendars.md); None: continuous time.
    calendar: str | None = None


def routed_intervals(interval: Interval) -> list[Interval]:
    """The intervals whose stored bars routing looks at: `interval` and the one it derives from."""
    base = DERIVED_FROM.get(interval) or SESSION_DERIVED_FROM.get(interval)
    return [interval] if base is None else [interval, base]


def calendar_name(cal: Calendar | None) -> str | None:
    return None if cal is None else cal.name
