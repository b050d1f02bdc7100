"""Flight's `total_records` for derived plans that follow a trading calendar: the sessions'
buckets the stored bars fill, not UTC buckets (docs/calendars.md).

    cals = await plan_calendars(history, plans)          # {name: Calendar} the plans name
    rows = await count_session_rows(store, plan, cal)    # plan.derived_from set, session-aligned
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from timebase.calendars.model import DAY, Calendar, midnight
from timebase.gateway.coverage_plan import ReadPlan
from timebase.gateway.history import HistoricalBars
from timebase.sdk.intervals import Interval
from timebase.store import BarQuery, Store
from timebase.store.session_counting import Part, count_session_buckets


async def plan_calendars(history: HistoricalBars, plans: Sequence[ReadPlan]) -> dict[str, Calendar]:
    """The calendars the derived `plans` follow, by name (one that cannot be loaded is left
    out: its plans are counted on the UTC grid, as they are then derived)."""
    out: dict[str, Calendar] = {}
    for name in sorted({p.calendar for p in plans if p.derived_from and p.calendar}):
        cal = await history.calendar_rules.load(name)
        if cal is not None:
            out[name] = cal
    return out


async def count_session_rows(
    store: Store, plan: ReadPlan, queries: Sequence[BarQuery], cal: Calendar
) -> int:
    """The bars `read_plan` derives for `plan` along `cal`'s sessions (exact when small)."""

    def parts_between(first: datetime, last: datetime) -> list[Part]:
        return [
            (_us(opened), _us(closed), _us(midnight(s.day)))
            for s in cal.sessions(first - DAY, last + DAY)
            for opened, closed in s.parts()
        ]

    daily = plan.interval is Interval.D1
    step = 0 if daily else int(plan.interval.nominal.total_seconds()) * 1_000_000
    return await store.pool.run(
        functools.partial(
            count_session_buckets,
            queries=queries,
            parts_between=parts_between,
            daily=daily,
            step_us=step,
            start=plan.start,
            end=plan.end,
        ),
        doing="counting bars",
    )


def _us(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond
