"""Bars: `GET /api/data/{symbol}` (the router chooses, or `?provider=SLUG`) and
`GET /api/providers/{slug}/data/{symbol}` (that provider only), as JSON, CSV or Arrow."""

from __future__ import annotations

import asyncio

from aiohttp import web
from multidict import MultiDict, MultiDictProxy, MultiMapping

from timebase.rest import encoders
from timebase.rest.auth import caller_of
from timebase.rest.encoders import CALENDAR_HEADER, MEDIA_TYPES, WARNINGS_HEADER, Format
from timebase.rest.envelope import REQUEST_ID_KEY, STARTED_KEY, meta
from timebase.rest.keys import API, CONFIG, DOOR, METRICS
from timebase.rest.params import parse_bar_query
from timebase.rest.responses import respond
from timebase.sdk.errors import DataUnavailable, InvalidRequestError

routes = web.RouteTableDef()

#: Bar tables this large are encoded off the event loop.
THREAD_MIN_ROWS = 5_000


@routes.get("/api/data/{symbol}", allow_head=False)
async def bars(request: web.Request) -> web.Response:
    """The router chooses; `?provider=SLUG` (the original TimeBase's provider-aware form)
    answers exactly as `/api/providers/{slug}/data/{symbol}`."""
    query = request.query
    if "provider" not in query:
        return await _bars(request, None, query)
    given = query.getall("provider")
    if len(given) > 1:
        raise InvalidRequestError("provider: given more than once", field="provider")
    rest = MultiDict((k, v) for k, v in query.items() if k != "provider")
    return await _bars(request, given[0].strip() or None, MultiDictProxy(rest))


@routes.get("/api/providers/{slug}/data/{symbol}", allow_head=False)
async def provider_bars(request: web.Request) -> web.Response:
    return await _bars(request, request.match_info["slug"], request.query)


async def _bars(
    request: web.Request, provider: str | None, query: MultiMapping[str]
) -> web.Response:
    fmt = encoders.negotiate(request.headers.get("Accept"), query.get("format"))
    limit = encoders.bar_limit(fmt, request.app[CONFIG])
    bar_request = parse_bar_query(request.match_info["symbol"], query, provider, limit)
    answer = await request.app[API].bars(bar_request, caller=caller_of(request))
    table = answer.table
    warnings = [w.to_dict() for w in answer.warnings]
    if table.num_rows == 0:
        raise DataUnavailable(
            f"no {bar_request.interval.value} bars of {bar_request.symbol} in "
            f"[{bar_request.start.isoformat()}, {bar_request.end.isoformat()})"
            + (f" from {provider!r}" if provider else ""),
            symbol=bar_request.symbol,
            interval=bar_request.interval.value,
            start=bar_request.start.isoformat(),
            end=bar_request.end.isoformat(),
            warnings=[w["message"] for w in warnings],
        )
    encoders.check_size(table.num_rows, limit)
    request.app[METRICS].rows_served(DOOR, fmt.value, table.num_rows)
    big = table.num_rows >= THREAD_MIN_ROWS
    if fmt is Format.JSON:
        info = meta(request[REQUEST_ID_KEY], request[STARTED_KEY])
        if answer.calendar is not None:  # the trading calendar that applied
            info["calendar"] = answer.calendar
        rows = await asyncio.to_thread(encoders.json_rows, table) if big else None
        if rows is None:
            rows = encoders.json_rows(table)
        envelope = {
            "success": True,
            "data": {
                "symbol": bar_request.symbol,
                "interval": bar_request.interval.value,
                "provider": encoders.top_provider(table),
                "count": table.num_rows,
                "data": None,
                "warnings": warnings,
            },
            "meta": info,
        }
        return respond(encoders.json_body(envelope, rows), MEDIA_TYPES[Format.JSON])
    headers = {WARNINGS_HEADER: encoders.warnings_header(warnings)}
    if answer.calendar is not None:
        headers[CALENDAR_HEADER] = answer.calendar
    if fmt is Format.CSV:
        body = (
            await asyncio.to_thread(encoders.csv_body, table) if big else encoders.csv_body(table)
        )
    else:
        body = (
            await asyncio.to_thread(encoders.arrow_body, table, warnings)
            if big
            else encoders.arrow_body(table, warnings)
        )
    return respond(body, MEDIA_TYPES[fmt], headers)
