"""Times as people type them: date-only end is inclusive, naive means UTC, errors name the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from timebase.core.user_time import parse_user_time
from timebase.sdk.errors import InvalidTimeRangeError


@pytest.mark.parametrize(
    ("text", "is_end", "expected"),
    [
        ("2024-01-02", False, datetime(2024, 1, 2, tzinfo=UTC)),
        ("2024-01-02", True, datetime(2024, 1, 3, tzinfo=UTC)),  # through the end of that day
        ("2024-12-31", True, datetime(2025, 1, 1, tzinfo=UTC)),
        ("2024-01-02T09:30", True, datetime(2024, 1, 2, 9, 30, tzinfo=UTC)),  # naive = UTC
        ("2024-01-02 09:30:00+02:00", False, datetime(2024, 1, 2, 7, 30, tzinfo=UTC)),
        ("2024-01-02T14:30:00Z", False, datetime(2024, 1, 2, 14, 30, tzinfo=UTC)),
        ("2024-01-02t14:30:00z", False, datetime(2024, 1, 2, 14, 30, tzinfo=UTC)),
        (
            " 2024-01-02T00:00:00.123456-05:00 ",
            False,
            datetime(2024, 1, 2, 5, 0, 0, 123456, tzinfo=UTC),
        ),
    ],
)
def test_parses_what_people_type(text: str, is_end: bool, expected: datetime) -> None:
    parsed = parse_user_time(text, field="end" if is_end else "start", is_end=is_end)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_python_values() -> None:
    assert parse_user_time(date(2024, 1, 2), field="end", is_end=True) == datetime(
        2024, 1, 3, tzinfo=UTC
    )
    eastern = timezone(timedelta(hours=-5))
    assert parse_user_time(datetime(2024, 1, 2, 9, 30, tzinfo=eastern), field="start") == datetime(
        2024, 1, 2, 14, 30, tzinfo=UTC
    )
    assert parse_user_time(datetime(2024, 1, 2, 9, 30), field="start") == datetime(
        2024, 1, 2, 9, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["yesterday", "2024-02-30", "2024/01/02", "", "2024-13-01T00:00"])
def test_bad_input_names_the_field(text: str) -> None:
    with pytest.raises(InvalidTimeRangeError) as err:
        parse_user_time(text, field="start")
    assert err.value.message == (
        f"start: {text!r} is not an ISO 8601 date or datetime (e.g. 2024-01-02 or 2024-01-02T14:30:00Z)"
    )
    assert err.value.code == "INVALID_TIME_RANGE"


@pytest.mark.parametrize(
    ("text", "field", "is_end", "shown"),
    [
        ("9999-12-31", "end", True, "9999-12-31"),  # the end of that day would overflow
        ("0001-01-01", "start", False, "0001-01-01"),
        ("1899-12-31", "start", False, "1899-12-31"),
        ("2200-01-02", "end", True, "2200-01-02"),
        ("0001-01-01T00:00:00+01:00", "start", False, "0001-01-01T00:00:00+01:00"),
        ("9999-12-31T23:59:59-05:00", "end", True, "9999-12-31T23:59:59-05:00"),
        ("2200-01-02T00:00:01Z", "end", True, "2200-01-02T00:00:01+00:00"),
    ],
)
def test_dates_outside_the_accepted_range_are_refused(
    text: str, field: str, is_end: bool, shown: str
) -> None:
    with pytest.raises(InvalidTimeRangeError) as err:
        parse_user_time(text, field=field, is_end=is_end)
    assert str(err.value) == (
        f"{field}: {shown} is out of range; dates from 1900-01-01 to 2200-01-01 (UTC) are accepted"
    )
    assert err.value.details == {
        "field": field,
        "value": shown,
        "earliest": "1900-01-01",
        "latest": "2200-01-01",
    }


def test_the_accepted_range_at_its_bounds() -> None:
    assert parse_user_time("1900-01-01", field="start") == datetime(1900, 1, 1, tzinfo=UTC)
    # A date-only end of 2200-01-01 means through the end of that day.
    assert parse_user_time("2200-01-01", field="end", is_end=True) == datetime(
        2200, 1, 2, tzinfo=UTC
    )
    assert parse_user_time("2200-01-02T00:00:00Z", field="end") == datetime(2200, 1, 2, tzinfo=UTC)
