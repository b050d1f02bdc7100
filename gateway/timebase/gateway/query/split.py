"""Splitting a large read plan by time range, so its endpoints stream on separate connections.

    parts = split_plan(plan, endpoint_bars=500_000)   # [plan] when small, else consecutive plans

A plan whose range may hold more than `endpoint_bars` bars (estimated from range × interval, as
the size limits are) becomes up to `MAX_PARTS` plans of consecutive, equal time ranges; their
rows, concatenated in order, are exactly the plan's. Derived and adjusted plans are read whole
(aggregation and adjustment need every bar), so they are never split.
"""

from __future__ import annotations

from timebase.gateway.adjustments import Adjust
from timebase.gateway.coverage_plan import ReadPlan

#: Most parts one plan is split into (each part is one Flight endpoint, one connection).
MAX_PARTS = 8
#: Default bars per part (`flight.endpoint_bars`).
DEFAULT_ENDPOINT_BARS = 500_000


def split_plan(plan: ReadPlan, endpoint_bars: int = DEFAULT_ENDPOINT_BARS) -> list[ReadPlan]:
    """`plan` as consecutive plans of about `endpoint_bars` bars each (see the module doc)."""
    if plan.derived_from is not None or plan.adjust is not Adjust.NONE or not plan.segments:
        return [plan]
    start = max(plan.start, plan.segments[0].start)
    end = min(plan.end, plan.segments[-1].end)
    span = end - start
    step = plan.interval.nominal
    bars = span // step
    parts = min(MAX_PARTS, -(-bars // endpoint_bars)) if bars > endpoint_bars else 1
    if parts <= 1:
        return [plan]
    # Cut on whole intervals from the start, so no cut falls inside a bar's nominal span.
    width = step * -(-bars // parts)
    out: list[ReadPlan] = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + width)
        if end - stop < step:  # no sliver of less than one bar at the end
            stop = end
        part = ReadPlan.clipped(plan.symbol, plan.interval, cursor, stop, plan.segments)
        out.append(part)
        cursor = stop
    return out
