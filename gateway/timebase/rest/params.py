"""Reading REST requests: query parameters and JSON bodies, checked, with errors naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from timebase.core.user_time import parse_user_time
from timebase.gateway.adjustments import Adjust, check_adjust
from timebase.gateway.bar_limits import BarLimit
from timebase.gateway.bar_request import BarRequest, build_request
from timebase.rest.guard import require_json
from timebase.sdk.conventions import parse_bool
from timebase.sdk.errors import InvalidIntervalError, InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import INTERVALS, Interval

#: Query parameters of the bar routes.
BAR_PARAMS = frozenset({"interval", "start", "end", "limit", "refresh", "format", "adjust"})


def only(query: Mapping[str, str], known: frozenset[str] | set[str]) -> None:
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise InvalidRequestError(
            f"{unknown[0]}: unknown query parameter (known: {', '.join(sorted(known)) or 'none'})",
            field=unknown[0],
        )


#: The largest admin request body read (a folder path, not a document).
_MAX_BODY_BYTES = 64 * 1024


async def json_object(request: web.Request, known: set[str]) -> dict[str, Any]:
    """The request's body: a JSON object with only `known` keys (InvalidRequestError otherwise).

    The one place REST bodies are read: declared `application/json` (UnsupportedMediaType
    otherwise, as the `guard.check_json_body` middleware also checks), size-limited, parsed.
    """
    require_json(request)
    if request.content_length is not None and request.content_length > _MAX_BODY_BYTES:
        raise InvalidRequestError(
            f"body: too large ({request.content_length} bytes; at most {_MAX_BODY_BYTES})",
            field="body",
        )
    raw = await request.read()
    if len(raw) > _MAX_BODY_BYTES:
        raise InvalidRequestError(
            f"body: too large (at most {_MAX_BODY_BYTES} bytes)", field="body"
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"body: not valid JSON ({exc})", field="body") from None
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"body: expected a JSON object with {', '.join(sorted(known))}", field="body"
        )
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidRequestError(
            f"{unknown[0]}: unknown field (known: {', '.join(sorted(known))})", field=unknown[0]
        )
    return value


def interval(raw: str) -> Interval:
    if not raw:
        raise InvalidIntervalError(
            f"interval: required; one of {', '.join(INTERVALS)}", field="interval"
        )
    try:
        return Interval(raw)
    except ValueError:
        raise InvalidIntervalError(
            f"interval: unknown interval {raw!r}; valid intervals: {', '.join(INTERVALS)}",
            field="interval",
        ) from None


def positive_int(raw: str, field: str) -> int:
    text = raw.strip()
    if not text.isdigit() or int(text) <= 0:
        raise InvalidRequestError(f"{field}: expected a positive integer, got {raw!r}", field=field)
    return int(text)


def boolean(raw: str, field: str) -> bool:
    value = True if not raw.strip() else parse_bool(raw)  # a bare `?refresh` means true
    if value is not None:
        return value
    raise InvalidRequestError(f"{field}: expected true or false, got {raw!r}", field=field)


def parse_bar_query(
    symbol: str, query: Mapping[str, str], provider: str | None, bar_limit: BarLimit | None = None
) -> BarRequest:
    """A checked `BarRequest` from a bars route's path and query (REST field names), its size
    estimated against `bar_limit` (the format's) before any work."""
    only(query, BAR_PARAMS)
    bar_interval = interval(query.get("interval", ""))
    start = parse_user_time(query["start"], field="start") if "start" in query else None
    end = parse_user_time(query["end"], field="end", is_end=True) if "end" in query else None
    limit = positive_int(query["limit"], "limit") if "limit" in query else None
    refresh = boolean(query["refresh"], "refresh") if "refresh" in query else False
    if start is None and limit is None:
        raise InvalidTimeRangeError("start: required unless limit is set", field="start")
    adjust = check_adjust(query["adjust"], empty_ok=False) if "adjust" in query else Adjust.NONE
    return build_request(
        symbol=symbol,
        interval=bar_interval.value,
        start=start,
        end=end,
        limit=limit,
        provider=provider or "",
        refresh=refresh,
        start_field="start",
        end_field="end",
        bar_limit=bar_limit,
        adjust=adjust.value,
    )
