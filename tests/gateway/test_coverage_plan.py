"""Coverage planning without a database: sticky assignment, merging, request windows, the open end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from timebase.gateway.coverage_plan import (
    FRESHNESS_TTL,
    ReadPlan,
    Segment,
    assign,
    merge,
    open_end,
    settled_end,
    windows,
)
from timebase.sdk.intervals import Interval
from timebase.sdk.manifest import Manifest
from timebase.store import TimeRange


def d(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def r(a: int, b: int) -> TimeRange:
    return TimeRange(d(a), d(b))


def seg(a: int, b: int, provider: str) -> Segment:
    return Segment(d(a), d(b), provider)


# -- assign -------------------------------------------------------------------------------------


def test_nothing_stored_leaves_one_gap() -> None:
    assert assign(d(1), d(10), {}, ["a"]) == ([], [r(1, 10)])
    assert assign(d(1), d(10), {"a": []}, ["a"]) == ([], [r(1, 10)])


def test_stored_pieces_are_clipped_to_the_request_and_gaps_listed_in_order() -> None:
    covered = {"a": [r(1, 3), r(5, 6), r(8, 20)]}
    segments, gaps = assign(d(2), d(10), covered, ["a"])
    assert segments == [seg(2, 3, "a"), seg(5, 6, "a"), seg(8, 10, "a")]
    assert gaps == [r(3, 5), r(6, 8)]


def test_pieces_touching_the_range_only_at_its_ends_cover_nothing() -> None:
    covered = {"a": [r(1, 2), r(10, 12)]}
    assert assign(d(2), d(10), covered, ["a"]) == ([], [r(2, 10)])


def test_the_provider_with_most_of_the_range_serves_all_it_has() -> None:
    # b has 6 days of the range, a has 4: b is sticky although the router prefers a.
    covered = {"a": [r(1, 5)], "b": [r(3, 9)]}
    segments, gaps = assign(d(1), d(10), covered, ["a", "b"])
    assert segments == [seg(1, 3, "a"), seg(3, 9, "b")]
    assert gaps == [r(9, 10)]


def test_coverage_is_measured_in_total_length_not_pieces() -> None:
    covered = {"a": [r(1, 2), r(3, 4), r(5, 6)], "b": [r(1, 5)]}
    segments, gaps = assign(d(1), d(7), covered, ["a", "b"])
    assert segments == [seg(1, 5, "b"), seg(5, 6, "a")]
    assert gaps == [r(6, 7)]


def test_equal_coverage_follows_the_router_order_then_the_slug() -> None:
    covered = {"a": [r(1, 4)], "b": [r(2, 5)], "c": [r(3, 6)]}
    segments, _ = assign(d(1), d(6), covered, ["b", "a"])
    assert segments == [seg(1, 2, "a"), seg(2, 5, "b"), seg(5, 6, "c")]


def test_unranked_providers_rank_after_ranked_then_by_slug() -> None:
    covered = {"z": [r(1, 3)], "y": [r(2, 4)], "x": [r(3, 5)]}
    segments, gaps = assign(d(1), d(5), covered, ["x"])
    # x first (ranked): [3, 5); then y (before z): [2, 3); then z: [1, 2).
    assert segments == [seg(1, 2, "z"), seg(2, 3, "y"), seg(3, 5, "x")]
    assert gaps == []


def test_a_piece_inside_a_hole_splits_it_in_two() -> None:
    covered = {"a": [r(4, 6)], "b": [r(1, 2)]}
    segments, gaps = assign(d(1), d(9), covered, [])
    assert segments == [seg(1, 2, "b"), seg(4, 6, "a")]
    assert gaps == [r(2, 4), r(6, 9)]


# -- merge --------------------------------------------------------------------------------------


def test_merge_joins_touching_and_overlapping_segments_of_one_provider() -> None:
    segments = [seg(5, 6, "a"), seg(1, 3, "a"), seg(3, 4, "a"), seg(6, 8, "b"), seg(8, 9, "a")]
    assert merge(segments) == [seg(1, 4, "a"), seg(5, 6, "a"), seg(6, 8, "b"), seg(8, 9, "a")]
    assert merge([seg(1, 5, "a"), seg(2, 3, "a")]) == [seg(1, 5, "a")]
    assert merge([seg(1, 3, "a"), seg(2, 5, "a")]) == [seg(1, 5, "a")]
    assert merge([]) == []


# -- windows ------------------------------------------------------------------------------------


def manifest(**kwargs: object) -> Manifest:
    return Manifest(name="P", version="1", slug="p", intervals=("1h", "1d"), **kwargs)  # type: ignore[arg-type]


NOW = d(31)


def test_without_limits_one_window() -> None:
    assert windows(d(1), d(10), Interval.D1, manifest(), NOW) == ([r(1, 10)], None)


def test_days_per_request_splits_the_range_with_a_short_last_window() -> None:
    m = manifest(max_days_per_request={"1h": 3, "default": 100})
    assert windows(d(1), d(8), Interval.H1, m, NOW) == ([r(1, 4), r(4, 7), r(7, 8)], None)
    assert windows(d(1), d(7), Interval.H1, m, NOW) == ([r(1, 4), r(4, 7)], None)
    assert windows(d(1), d(8), Interval.D1, m, NOW) == ([r(1, 8)], None)
    half = manifest(max_days_per_request={"default": 0.5})
    assert windows(d(1), d(2), Interval.D1, half, NOW) == (
        [TimeRange(d(1), d(1, 12)), TimeRange(d(1, 12), d(2))],
        None,
    )


def test_lookback_cuts_off_the_older_part() -> None:
    m = manifest(max_lookback_days={"1h": 10})
    # earliest = 31 - 10 = day 21
    assert windows(d(15), d(25), Interval.H1, m, NOW) == ([r(21, 25)], r(15, 21))
    assert windows(d(21), d(25), Interval.H1, m, NOW) == ([r(21, 25)], None)
    assert windows(d(10), d(21), Interval.H1, m, NOW) == ([], r(10, 21))
    assert windows(d(10), d(20), Interval.H1, m, NOW) == ([], r(10, 20))
    assert windows(d(10), d(20), Interval.D1, m, NOW) == ([r(10, 20)], None)


def test_lookback_and_days_per_request_together() -> None:
    m = manifest(max_lookback_days={"default": 10}, max_days_per_request={"default": 2})
    assert windows(d(18), d(26), Interval.D1, m, NOW) == (
        [r(21, 23), r(23, 25), r(25, 26)],
        r(18, 21),
    )


# -- the open end -------------------------------------------------------------------------------


def test_settled_end_is_the_start_of_the_bar_in_progress() -> None:
    now = datetime(2024, 1, 17, 13, 47, 12, tzinfo=UTC)
    assert settled_end(Interval.M15, now) == datetime(2024, 1, 17, 13, 45, tzinfo=UTC)
    assert settled_end(Interval.H4, now) == datetime(2024, 1, 17, 12, tzinfo=UTC)
    assert settled_end(Interval.D1, now) == datetime(2024, 1, 17, tzinfo=UTC)
    assert settled_end(Interval.W1, now) == datetime(2024, 1, 15, tzinfo=UTC)
    assert settled_end(Interval.MO1, now) == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval", "back"),
    [(Interval.M1, timedelta(minutes=2)), (Interval.D1, timedelta(days=2))],
)
def test_open_end_is_two_nominal_bars_back(interval: Interval, back: timedelta) -> None:
    now = datetime(2024, 1, 17, 13, 47, 12, tzinfo=UTC)
    assert open_end(interval, now) == now - back


def test_every_interval_has_a_freshness_ttl() -> None:
    assert set(FRESHNESS_TTL) == set(Interval)
    assert FRESHNESS_TTL[Interval.M1] == timedelta(seconds=30)
    assert FRESHNESS_TTL[Interval.D1] == timedelta(hours=1)


def test_a_read_plan_clips_its_segments_to_the_range() -> None:
    plan = ReadPlan.clipped(
        "AAPL",
        Interval.D1,
        d(3),
        d(8),
        [
            seg(1, 2, "a"),
            seg(1, 3, "a"),
            seg(2, 5, "b"),
            seg(5, 6, "c"),
            seg(7, 12, "a"),
            seg(8, 9, "d"),
        ],
    )
    assert plan == ReadPlan(
        "AAPL", Interval.D1, d(3), d(8), (seg(3, 5, "b"), seg(5, 6, "c"), seg(7, 8, "a")), None
    )
