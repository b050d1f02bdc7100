"""The service routes: health, version, the OpenAPI document, the docs page and metrics."""

from __future__ import annotations

from aiohttp import web

from timebase.gateway.query import HealthStatus
from timebase.rest import render
from timebase.rest.auth import authenticated
from timebase.rest.keys import API, DOCS_BODY, METRICS, SPEC_BODY
from timebase.rest.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from timebase.rest.middleware import error_response
from timebase.rest.responses import ok, respond
from timebase.sdk.conventions import VERSION
from timebase.sdk.errors import DatabaseError

routes = web.RouteTableDef()


class _DatabaseDown(DatabaseError):
    """The health check found the database unreachable."""


@routes.get("/api/health", allow_head=False)
async def health(request: web.Request) -> web.Response:
    answer = await request.app[API].health()
    data = render.health(answer)
    if not authenticated(request):  # auth on, no key: up or down, nothing more
        data = {"status": answer.status.value}
        if answer.status is HealthStatus.UNHEALTHY:
            return error_response(request, _DatabaseDown("TimeBase is unhealthy"))
        return ok(request, data)
    if answer.status is HealthStatus.UNHEALTHY:
        details = {k: v for k, v in data.items() if k != "message"}
        return error_response(request, _DatabaseDown(answer.message, **details))
    return ok(request, data)


@routes.get("/api/version", allow_head=False)
async def version(request: web.Request) -> web.Response:
    return ok(request, {"name": "TimeBase", "version": VERSION})


@routes.get("/openapi.json", allow_head=False)
async def openapi(request: web.Request) -> web.Response:
    return respond(request.app[SPEC_BODY], "application/json")


@routes.get("/docs", allow_head=False)
async def docs(request: web.Request) -> web.Response:
    return respond(request.app[DOCS_BODY], "text/html")


@routes.get("/metrics", allow_head=False)
async def metrics(request: web.Request) -> web.Response:
    return respond(request.app[METRICS].render(), METRICS_CONTENT_TYPE)
