"""`GET /api/stream`: real-time bars over a WebSocket (`timebase.rest.websocket`)."""

from __future__ import annotations

from aiohttp import web

from timebase.rest.keys import STREAMS

routes = web.RouteTableDef()


@routes.get("/api/stream", allow_head=False)
async def stream(request: web.Request) -> web.StreamResponse:
    return await request.app[STREAMS].handle(request)
