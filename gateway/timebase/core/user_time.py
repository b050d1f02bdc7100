"""Times as people type them (REST query strings, the CLI, the Python client).

- ISO 8601 dates (`2024-01-02`) and datetimes (`2024-01-02T09:30`, `2024-01-02 09:30:00+02:00`,
  `2024-01-02T14:30:00Z`).
- A datetime without an offset is UTC.
- A date-only `start` is 00:00 UTC of that day; a date-only `end` means "through the end of that
  day", i.e. 00:00 UTC of the next day (ranges are half-open [start, end) everywhere).

Programmatic doors (gRPC, Flight's JSON query) take exact instants and do not apply the date-only
`end` rule: there the caller already thinks in half-open ranges.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from timebase.sdk.errors import InvalidTimeRangeError

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_user_time(value: str | date | datetime, *, field: str, is_end: bool = False) -> datetime:
    """The instant `value` names, as an aware UTC datetime; see the module docstring."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return _day(value, is_end)
    text = value.strip()
    if _DATE_ONLY.fullmatch(text):
        try:
            return _day(date.fromisoformat(text), is_end)
        except ValueError:
            pass  # e.g. 2024-02-30: reported below
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidTimeRangeError(
            f"{field}: {value!r} is not an ISO 8601 date or datetime "
            "(e.g. 2024-01-02 or 2024-01-02T14:30:00Z)",
            field=field,
        ) from None
    return _utc(parsed)


def _day(day: date, is_end: bool) -> datetime:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if is_end else start


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
