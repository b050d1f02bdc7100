"""Schedules of background jobs: every N seconds, `every N<unit>`, or a small cron (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from timebase.core.schedule import Schedule

NOW = datetime(2024, 3, 1, 12, 7, 30, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("raw", "seconds", "text"),
    [
        (3600, 3600, "every 3600s"),
        ("90", 90, "every 90s"),
        ("every 15m", 900, "every 15m"),
        ("Every  2h", 7200, "Every 2h"),
        ("every 1d", 86400, "every 1d"),
    ],
)
def test_periods_run_that_long_after_the_previous_run(raw, seconds, text) -> None:
    schedule = Schedule.parse(raw)
    assert (schedule.seconds, schedule.text) == (seconds, text)
    assert schedule.next_after(NOW) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/15 * * * *", datetime(2024, 3, 1, 12, 15, tzinfo=UTC)),
        ("0 * * * *", datetime(2024, 3, 1, 13, 0, tzinfo=UTC)),
        ("30 22 * * 1-5", datetime(2024, 3, 1, 22, 30, tzinfo=UTC)),
        ("0 6 * * 1", datetime(2024, 3, 4, 6, 0, tzinfo=UTC)),  # next Monday
        ("0 0 1 * *", datetime(2024, 4, 1, 0, 0, tzinfo=UTC)),
        ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
        ("7 12 * * *", datetime(2024, 3, 2, 12, 7, tzinfo=UTC)),  # strictly after now
        ("5,50 12 * * 0,7", datetime(2024, 3, 3, 12, 5, tzinfo=UTC)),  # Sunday as 0 or 7
        ("0 0 1 * 1", datetime(2024, 3, 4, 0, 0, tzinfo=UTC)),  # either day field (cron)
    ],
)
def test_cron_expressions_run_at_the_next_matching_minute(cron, expected) -> None:
    assert Schedule.parse(cron).next_after(NOW) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (0, "expected a positive number of seconds, got 0"),
        (True, "expected seconds, 'every N(s|m|h|d)' or a cron expression, got True"),
        ("every 0m", "expected a positive period, got 'every 0m'"),
        ("hourly", "cron expression of 5 fields"),
        ("60 * * * *", "cron minute field: '60' is outside 0-59"),
        ("* 24 * * *", "cron hour field: '24' is outside 0-23"),
        ("*/0 * * * *", "cron minute field: the step must be positive in '*/0'"),
        ("* * * jan *", "cron month field: cannot read 'jan'"),
        ("0 0 31 2 *", "cron expression '0 0 31 2 *' never runs"),
    ],
)
def test_bad_schedules_say_what_is_wrong(raw, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Schedule.parse(raw)
