"""Times as people type them (REST query strings, the CLI, the Python client).

- ISO 8601 dates (`2024-01-02`) and datetimes (`2024-01-02T09:30`, `2024-01-02 09:30:00+02:00`,
  `2024-01-02T14:30:00Z`).
- A datetime without an offset is UTC.
- A date-only `start` is 00:00 UTC of that day; a date-only `end` means "through the end of that
  day", i.e. 00:00 UTC of the next day (ranges are half-open [start, end) everywhere).

Programmatic doors (gRPC, Flight's JSON query) take exact instants and do not apply the date-only
`end` rule: there the caller already thinks in half-open ranges.

Every door accepts dates from 1900-01-01 to 2200-01-01 (`check_time`): instants from
1900-01-01T00:00:00Z up to the end of 2200-01-01 (2200-01-02T00:00:00Z, the exclusive end of a
range). Anything outside is an InvalidTimeRangeError naming the field, the value and the range,
before any date arithmetic can overflow.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from timebase.sdk.errors import InvalidTimeRangeError

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")

#: The first instant any door accepts.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
#: The last instant any door accepts: the end of 2200-01-01.
LATEST_TIME = datetime(2200, 1, 2, tzinfo=UTC)
#: The accepted dates, as error messages and documents say them.
ACCEPTED_DATES = "1900-01-01 to 2200-01-01"
_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(2200, 1, 1)


def out_of_range(field: str, shown: str) -> InvalidTimeRangeError:
    """The error for a time outside the accepted dates."""
    return InvalidTimeRangeError(
        f"{field}: {shown} is out of range; dates from {ACCEPTED_DATES} (UTC) are accepted",
        field=field,
        value=shown,
        earliest=_FIRST_DAY.isoformat(),
        latest=_LAST_DAY.isoformat(),
    )


def check_time(value: datetime, field: str) -> datetime:
    """`value` (aware) if within the accepted dates, else InvalidTimeRangeError naming `field`."""
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        raise out_of_range(field, value.isoformat())
    return value


def to_utc(value: datetime, field: str) -> datetime:
    """`value` as an aware UTC datetime (naive: UTC), within the accepted dates."""
    try:
        return check_time(_utc(value), field)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC datetime
        raise out_of_range(field, value.isoformat()) from None


def parse_user_time(value: str | date | datetime, *, field: str, is_end: bool = False) -> datetime:
    """The instant `value` names, as an aware UTC datetime; see the module docstring."""
    if isinstance(value, datetime):
        return to_utc(value, field)
    if isinstance(value, date):
        return _day(value, is_end, field)
    text = value.strip()
    if _DATE_ONLY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None  # e.g. 2024-02-30: reported below
        if day is not None:
            return _day(day, is_end, field)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidTimeRangeError(
            f"{field}: {value!r} is not an ISO 8601 date or datetime "
            "(e.g. 2024-01-02 or 2024-01-02T14:30:00Z)",
            field=field,
        ) from None
    return to_utc(parsed, field)


def _day(day: date, is_end: bool, field: str) -> datetime:
    if not _FIRST_DAY <= day <= _LAST_DAY:
        raise out_of_range(field, day.isoformat())
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if is_end else start


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
