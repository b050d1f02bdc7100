"""Freshness of stored bars by the trading calendar (`timebase.gateway.freshness`): real
exchange calendars (XNYS, XHKG) and the built-in 24/7."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from tests.support.calendars import shared_calendars
from timebase.calendars.model import ALWAYS_OPEN
from timebase.gateway.freshness import behind_since, freshness
from timebase.sdk.intervals import Interval


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def test_the_lunch_break_is_not_missing_time() -> None:
    xhkg = await shared_calendars().get("XHKG")
    # Fri 2024-03-08: the morning's last 1h bar (03:30 UTC, 11:30 Hong Kong) ends at the break.
    last_morning = utc(2024, 3, 8, 3, 30)
    assert behind_since(xhkg, last_morning, Interval.H1, utc(2024, 3, 8, 4, 45)) is None
    assert behind_since(xhkg, last_morning, Interval.H1, utc(2024, 3, 8, 5, 30)) == utc(
        2024, 3, 8, 5
    )


async def test_a_weekend_and_a_holiday_are_not_missing_time() -> None:
    xnys = await shared_calendars().get("XNYS")
    friday_last = utc(2024, 2, 16, 20, 30)
    # Sunday, Presidents' Day (Mon 19), Tuesday before the open: up to date.
    for now in (utc(2024, 2, 18, 12), utc(2024, 2, 19, 18), utc(2024, 2, 20, 14, 29)):
        assert behind_since(xnys, friday_last, Interval.H1, now) is None
    assert behind_since(xnys, friday_last, Interval.H1, utc(2024, 2, 20, 15)) == utc(
        2024, 2, 20, 14, 30
    )
    # Months ago, in summer time (13:30 to 20:00 UTC): the bar after the 14:30 New York one.
    assert behind_since(xnys, utc(2023, 11, 1, 18, 30), Interval.H1, utc(2024, 2, 18)) == utc(
        2023, 11, 1, 19, 30
    )
    # Its last bar (15:30 New York) ends after the close: the next session is missing.
    assert behind_since(xnys, utc(2023, 11, 1, 19, 30), Interval.H1, utc(2024, 2, 18)) == utc(
        2023, 11, 2, 13, 30
    )


async def test_the_rank_orders_up_to_date_then_later_gaps_then_nothing() -> None:
    xnys = await shared_calendars().get("XNYS")
    now = utc(2024, 2, 18, 12)
    fresh = freshness(xnys, utc(2024, 2, 16, 20, 30), Interval.H1, now)
    stale = freshness(xnys, utc(2024, 2, 15, 20, 30), Interval.H1, now)
    staler = freshness(xnys, utc(2024, 2, 14, 20, 30), Interval.H1, now)
    none = freshness(xnys, None, Interval.H1, now)
    assert fresh.rank == -math.inf
    assert none.rank == math.inf
    assert sorted([none, staler, fresh, stale], key=lambda f: f.rank) == [
        fresh,
        stale,
        staler,
        none,
    ]
    assert stale.reason == (
        "latest stored bar 2024-02-15T20:30:00+00:00, behind since 2024-02-16T14:30:00+00:00 "
        "by XNYS"
    )


def test_without_a_calendar_the_newest_bar_ranks_and_24_7_never_rests() -> None:
    plain = freshness(None, utc(2024, 2, 16, 20), Interval.H1, utc(2024, 2, 18))
    assert (plain.behind_since, plain.rank, plain.reason) == (
        None,
        -utc(2024, 2, 16, 20).timestamp(),
        "latest stored bar 2024-02-16T20:00:00+00:00",
    )
    crypto = freshness(ALWAYS_OPEN, utc(2024, 2, 16, 20), Interval.H1, utc(2024, 2, 18))
    assert crypto.behind_since == utc(2024, 2, 16, 21)
