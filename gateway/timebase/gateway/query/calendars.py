"""A calendar's sessions as every door shows them (`GET /api/calendars/{name}/sessions`).

answer = await calendar_sessions(calendars, "XNYS", start, end)   # CalendarSessions
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from timebase.calendars.model import Session
from timebase.calendars.registry import Calendars, check_calendar_name
from timebase.core.user_time import check_time
from timebase.sdk.errors import InvalidTimeRangeError

#: Longest range one sessions answer may cover (about 2,600 exchange sessions, 4,000 of 24/7).
MAX_SESSION_RANGE = timedelta(days=4_000)


@dataclass(frozen=True)
class CalendarSessions:
    """The sessions of `calendar` meeting [start, end), in order."""

    calendar: str
    start: datetime
    end: datetime
    sessions: tuple[Session, ...]


async def calendar_sessions(
    calendars: Calendars, name: str, start: datetime, end: datetime
) -> CalendarSessions:
    """Checked (name syntax, start < end, at most `MAX_SESSION_RANGE`) before the calendar is
    loaded; unknown names raise CalendarNotFound."""
    check_calendar_name(name, "name")
    check_time(start, "start")
    check_time(end, "end")
    if not start < end:
        raise InvalidTimeRangeError(
            f"start: must be before end (got start={start.isoformat()}, end={end.isoformat()})",
            field="start",
        )
    if end - start > MAX_SESSION_RANGE:
        raise InvalidTimeRangeError(
            f"end: at most {MAX_SESSION_RANGE.days:,} days of sessions in one answer, got "
            f"{(end - start).days:,}: ask for a shorter range",
            field="end",
        )
    cal = await calendars.get(name)
    sessions = tuple(s for s in cal.sessions(start, end) if s.open < end and s.close > start)
    return CalendarSessions(cal.name, start, end, sessions)
