"""The audit log: `GET /api/audit` (admins only), newest first, paged and filtered."""

from __future__ import annotations

from aiohttp import web

from timebase.audit import build_filter
from timebase.core.user_time import parse_user_time
from timebase.rest import render
from timebase.rest.auth import caller_of
from timebase.rest.keys import API
from timebase.rest.params import only, positive_int
from timebase.rest.responses import ok

routes = web.RouteTableDef()

#: Query parameters of `GET /api/audit`.
AUDIT_PARAMS = frozenset(
    {"limit", "cursor", "action", "key", "door", "symbol", "provider", "outcome", "since", "until"}
)


@routes.get("/api/audit", allow_head=False)
async def audit(request: web.Request) -> web.Response:
    query = request.query
    only(query, AUDIT_PARAMS)
    caller = caller_of(request)
    since = parse_user_time(query["since"], field="since") if "since" in query else None
    until = (
        parse_user_time(query["until"], field="until", is_end=True) if "until" in query else None
    )
    checked = build_filter(
        limit=positive_int(query["limit"], "limit") if "limit" in query else None,
        cursor=query.get("cursor"),
        action=query.get("action"),
        key_name=query.get("key"),
        door=query.get("door"),
        symbol=query.get("symbol"),
        provider=query.get("provider"),
        outcome=query.get("outcome"),
        since=since,
        until=until,
    )
    page = await request.app[API].audit_log(checked, caller=caller)
    return ok(
        request,
        {
            "entries": [render.audit_record(r) for r in page.records],
            "count": len(page.records),
            "nextCursor": page.next_cursor,
        },
    )
