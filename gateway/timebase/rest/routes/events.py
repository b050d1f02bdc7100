"""Corporate events: `GET /api/data/{symbol}/events`, the split and dividend events recorded on a
symbol's bars (the ones `adjust=splits|all` uses), fetching what is missing like the bar routes.

    GET /api/data/AAPL/events?start=2024-01-01&end=2024-07-01[&interval=1d][&provider=yahoo-finance]
"""

from __future__ import annotations

from aiohttp import web

from timebase.core.user_time import parse_user_time
from timebase.gateway.bar_request import build_request
from timebase.rest import encoders
from timebase.rest.auth import caller_of
from timebase.rest.encoders import Format
from timebase.rest.keys import API, CONFIG
from timebase.rest.params import interval, only
from timebase.rest.responses import ok

routes = web.RouteTableDef()

#: Query parameters of the events route.
EVENT_PARAMS = frozenset({"interval", "start", "end", "provider"})


@routes.get("/api/data/{symbol}/events", allow_head=False)
async def events(request: web.Request) -> web.Response:
    query = request.query
    only(query, EVENT_PARAMS)
    start = parse_user_time(query["start"], field="start") if "start" in query else None
    end = parse_user_time(query["end"], field="end", is_end=True) if "end" in query else None
    bar_request = build_request(
        symbol=request.match_info["symbol"],
        interval=interval(query.get("interval", "1d")).value,
        start=start,
        end=end,
        provider=query.get("provider", ""),
        start_field="start",
        end_field="end",
        bar_limit=encoders.bar_limit(Format.JSON, request.app[CONFIG]),
    )
    table, answer = await request.app[API].events(bar_request, caller=caller_of(request))
    stamps = encoders.rfc3339(table.column("timestamp")).to_pylist()
    listed = [
        {"timestamp": stamp, "provider": provider, "kind": kind, "value": value}
        for stamp, provider, kind, value in zip(
            stamps,
            table.column("provider").to_pylist(),
            table.column("kind").to_pylist(),
            table.column("value").to_pylist(),
            strict=True,
        )
    ]
    return ok(
        request,
        {
            "symbol": bar_request.symbol,
            "interval": bar_request.interval.value,
            "count": len(listed),
            "events": listed,
            "warnings": [w.to_dict() for w in answer.warnings],
        },
    )
