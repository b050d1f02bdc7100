"""Splitting a read plan by time range (`timebase.gateway.query.split`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from timebase.gateway.adjustments import Adjust
from timebase.gateway.coverage_plan import ReadPlan, Segment
from timebase.gateway.query.split import MAX_PARTS, split_plan
from timebase.sdk.intervals import Interval

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _plan(minutes: int, *segments: Segment) -> ReadPlan:
    end = T0 + timedelta(minutes=minutes)
    return ReadPlan("ACME", Interval.M1, T0, end, segments or (Segment(T0, end, "alpha"),))


def test_parts_are_consecutive_whole_intervals_and_keep_each_segments_provider():
    middle = T0 + timedelta(minutes=250)
    plan = _plan(
        1000,
        Segment(T0, middle, "alpha"),
        Segment(middle, T0 + timedelta(minutes=1000), "beta"),
    )
    parts = split_plan(plan, endpoint_bars=300)
    assert [(p.start, p.end) for p in parts] == [
        (T0 + timedelta(minutes=a), T0 + timedelta(minutes=b))
        for a, b in ((0, 250), (250, 500), (500, 750), (750, 1000))
    ]
    assert parts[0].segments == (Segment(T0, middle, "alpha"),)
    assert parts[1].segments == (Segment(middle, T0 + timedelta(minutes=500), "beta"),)
    assert split_plan(plan, endpoint_bars=1000) == [plan]


def test_at_most_max_parts_and_no_sliver_at_the_end():
    parts = split_plan(_plan(1001), endpoint_bars=10)
    assert len(parts) == MAX_PARTS
    assert parts[-1].end == T0 + timedelta(minutes=1001)
    assert all(p.end - p.start >= timedelta(minutes=1) for p in parts)


def test_derived_adjusted_and_empty_plans_are_never_split():
    derived = ReadPlan(
        "ACME", Interval.H4, T0, T0 + timedelta(days=30),
        (Segment(T0, T0 + timedelta(days=30), "alpha"),), derived_from=Interval.H1,
    )  # fmt: skip
    adjusted = replace(_plan(1000), adjust=Adjust.ALL)
    empty = ReadPlan("ACME", Interval.M1, T0, T0 + timedelta(days=30))
    for plan in (derived, adjusted, empty):
        assert split_plan(plan, endpoint_bars=10) == [plan]
