"""Bars: `GET /api/data/{symbol}` (the router chooses) and
`GET /api/providers/{slug}/data/{symbol}` (that provider only), as JSON, CSV or Arrow."""

from __future__ import annotations

import asyncio

from aiohttp import web

from timebase.rest import encoders
from timebase.rest.auth import caller_of
from timebase.rest.encoders import MEDIA_TYPES, WARNINGS_HEADER, Format
from timebase.rest.envelope import REQUEST_ID_KEY, STARTED_KEY, meta
from timebase.rest.keys import API, CONFIG, DOOR, METRICS
from timebase.rest.params import parse_bar_query
from timebase.rest.responses import respond
from timebase.sdk.errors import DataUnavailable

routes = web.RouteTableDef()

#: Bar tables this large are encoded off the event loop.
THREAD_MIN_ROWS = 5_000


@routes.get("/api/data/{symbol}", allow_head=False)
async def bars(request: web.Request) -> web.Response:
    return await _bars(request, None)


@routes.get("/api/providers/{slug}/data/{symbol}", allow_head=False)
async def provider_bars(request: web.Request) -> web.Response:
    return await _bars(request, request.match_info["slug"])


async def _bars(request: web.Request, provider: str | None) -> web.Response:
    query = request.query
    fmt = encoders.negotiate(request.headers.get("Accept"), query.get("format"))
    bar_request = parse_bar_query(request.match_info["symbol"], query, provider)
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
    encoders.check_size(table.num_rows, fmt, request.app[CONFIG].max_bars)
    request.app[METRICS].rows_served(DOOR, fmt.value, table.num_rows)
    big = table.num_rows >= THREAD_MIN_ROWS
    if fmt is Format.JSON:
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
            "meta": meta(request[REQUEST_ID_KEY], request[STARTED_KEY]),
        }
        return respond(encoders.json_body(envelope, rows), MEDIA_TYPES[Format.JSON])
    headers = {WARNINGS_HEADER: encoders.warnings_header(warnings)}
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
