"""The OpenAPI path and schemas of `GET /api/calendars/{name}/sessions`
(`timebase.rest.routes.calendars`), merged into the document by `build_spec`."""

from __future__ import annotations

from typing import Any

from timebase.rest.openapi.common import TIME_SCHEMA, errors, ok

_TIME = {"type": "string", "format": "date-time"}


#: The route's parameters (components).
PARAMETERS: dict[str, Any] = {
    "CalendarName": {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "Calendar name: XNYS, XLON, 24/7 (as 24/7 or 24%2F7), ...",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_/-]{0,31}$"},
    },
    "CalendarStart": {
        "name": "start",
        "in": "query",
        "description": "ISO 8601 date or instant (a date: its midnight UTC); before `end`, at "
        "most 4,000 days before it. Default: a week before `end`.",
        "schema": TIME_SCHEMA,
    },
    "CalendarEnd": {
        "name": "end",
        "in": "query",
        "description": "ISO 8601 date (inclusive: the end of that day) or instant (exclusive). "
        "Default: a week after `start`.",
        "schema": TIME_SCHEMA,
    },
}


def paths() -> dict[str, Any]:
    return {
        "/api/calendars/{name}/sessions": {
            "get": {
                "operationId": "getCalendarSessions",
                "summary": "A trading calendar's sessions (open and close in UTC)",
                "description": "The sessions of a calendar meeting [start, end): the built-in "
                "`24/7` and `24/5` (one session per UTC day), or an exchange calendar of "
                "exchange_calendars by MIC (XNYS, XLON, XTKS, ...; docs/calendars.md). Without "
                "`start`: a week before `end`; without `end`: a week after `start`; without both: the "
                "week before and after now. At "
                "most 4,000 days. The first use of an exchange calendar builds its table (a few "
                "seconds). Unknown names are a 404 CALENDAR_NOT_FOUND.",
                "tags": ["bars"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/CalendarName"},
                    {"$ref": "#/components/parameters/CalendarStart"},
                    {"$ref": "#/components/parameters/CalendarEnd"},
                ],
                "responses": {
                    "200": ok("CalendarSessions", "The sessions, in order."),
                    **errors(400, 404, 429, 500, 503),
                },
            }
        }
    }


def schemas() -> dict[str, Any]:
    session = {
        "type": "object",
        "required": ["date", "open", "close"],
        "properties": {
            "date": {"type": "string", "format": "date", "description": "The trading date."},
            "open": _TIME,
            "close": _TIME,
            "breakStart": {
                **_TIME,
                "description": "The start of the lunch break (closed time; XHKG, XTKS, ...), "
                "only for sessions that have one.",
            },
            "breakEnd": {**_TIME, "description": "The end of the lunch break."},
        },
        "additionalProperties": False,
    }
    return {
        "CalendarSessions": {
            "type": "object",
            "required": ["calendar", "start", "end", "count", "sessions"],
            "properties": {
                "calendar": {"type": "string"},
                "start": _TIME,
                "end": _TIME,
                "count": {"type": "integer", "minimum": 0},
                "sessions": {"type": "array", "items": session},
            },
            "additionalProperties": False,
        }
    }
