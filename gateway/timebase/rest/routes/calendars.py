"""`GET /api/calendars/{name}/sessions?start=&end=`: a trading calendar's sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from timebase.calendars.model import Session
from timebase.core.user_time import EARLIEST_TIME, LATEST_TIME, parse_user_time
from timebase.gateway.query.calendars import CalendarSessions
from timebase.rest.keys import API
from timebase.rest.params import only
from timebase.rest.responses import ok

routes = web.RouteTableDef()

#: Without `start` (`end`): this long before `end` (after `start`); without both: around now.
DEFAULT_SPAN = timedelta(days=7)


# `{name:.+}`: built-in names hold a slash (24/7, 24/5).
@routes.get("/api/calendars/{name:.+}/sessions", allow_head=False)
async def sessions(request: web.Request) -> web.Response:
    query = request.query
    only(query, frozenset({"start", "end"}))
    now = datetime.now(UTC)
    start = parse_user_time(query["start"], field="start") if "start" in query else None
    end = parse_user_time(query["end"], field="end", is_end=True) if "end" in query else None
    start, end = _range(start, end, now)
    answer = await request.app[API].calendar_sessions(request.match_info["name"], start, end)
    return ok(request, render(answer))


def _range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range asked for, the defaults staying within the accepted dates."""
    if start is not None and end is not None:
        return start, end
    if start is not None:
        return start, min(LATEST_TIME, start + DEFAULT_SPAN)
    if end is not None:
        return max(EARLIEST_TIME, end - DEFAULT_SPAN), end
    return now - DEFAULT_SPAN, now + DEFAULT_SPAN


def render(answer: CalendarSessions) -> dict[str, Any]:
    """The sessions as JSON (camelCase; times ISO 8601 UTC; `date` the trading date)."""
    return {
        "calendar": answer.calendar,
        "start": answer.start,
        "end": answer.end,
        "count": len(answer.sessions),
        "sessions": [_session(s) for s in answer.sessions],
    }


def _session(s: Session) -> dict[str, Any]:
    """One session; `breakStart` and `breakEnd` only when it has a lunch break."""
    out: dict[str, Any] = {"date": s.day.isoformat(), "open": s.open, "close": s.close}
    if s.break_start is not None and s.break_end is not None:
        out["breakStart"], out["breakEnd"] = s.break_start, s.break_end
    return out
