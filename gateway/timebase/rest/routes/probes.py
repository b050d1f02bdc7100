"""Probes for orchestrators and the original TimeBase's health aliases.

Not rate limited (`timebase.rest.middleware.UNLIMITED`).

- `GET /api/health/live`: the process serves (200 whenever it answers at all).
- `GET /api/health/ready`: 200 when the database answers and at least one provider is ready;
  503 otherwise (DATABASE_ERROR, or PROVIDER_UNAVAILABLE when no provider is ready).
- `GET /health`, `/health/live`, `/health/ready`: the same checks in the original TimeBase's
  (ASP.NET health checks) shape: `status` Healthy, Degraded or Unhealthy (503 when Unhealthy);
  `/health/live` answers the plain text `Healthy`, as the original does.

They tell up or down, never why in any detail (no error text, no provider names): they stay
open to unauthenticated orchestrators. `GET /api/health` is the detailed report.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from timebase.gateway.query import Health, HealthStatus
from timebase.rest.envelope import dumps
from timebase.rest.keys import API
from timebase.rest.middleware import error_response
from timebase.rest.params import only
from timebase.rest.responses import ok, respond
from timebase.sdk.errors import DatabaseError, ProviderUnavailable

routes = web.RouteTableDef()

#: Our health status as the original's words (`GET /health`).
ORIGINAL_STATUS = {
    HealthStatus.HEALTHY: "Healthy",
    HealthStatus.DEGRADED: "Degraded",
    HealthStatus.UNHEALTHY: "Unhealthy",
}


def is_ready(health: Health) -> bool:
    """Ready: the database answers and at least one provider is ready."""
    return health.database_up and health.providers_ready > 0


@routes.get("/api/health/live", allow_head=False)
async def live(request: web.Request) -> web.Response:
    only(request.query, frozenset())
    return ok(request, {"status": "live"})


@routes.get("/api/health/ready", allow_head=False)
async def ready(request: web.Request) -> web.Response:
    only(request.query, frozenset())
    health = await request.app[API].health()
    if not health.database_up:
        return error_response(request, DatabaseError("not ready: the database is unreachable"))
    if not is_ready(health):
        return error_response(request, ProviderUnavailable("not ready: no provider is ready"))
    return ok(request, {"status": "ready"})


# -- the original TimeBase's aliases -------------------------------------------------------


@routes.get("/health/live", allow_head=False)
async def original_live(request: web.Request) -> web.Response:
    return respond(b"Healthy", "text/plain")


@routes.get("/health", allow_head=False)
async def original_health(request: web.Request) -> web.Response:
    started = time.perf_counter()
    health = await request.app[API].health()
    return _original(ORIGINAL_STATUS[health.status], _checks(health), started)


@routes.get("/health/ready", allow_head=False)
async def original_ready(request: web.Request) -> web.Response:
    started = time.perf_counter()
    health = await request.app[API].health()
    if not is_ready(health):
        status = "Unhealthy"
    else:
        status = "Healthy" if health.status is HealthStatus.HEALTHY else "Degraded"
    return _original(status, _checks(health), started)


def _checks(health: Health) -> list[dict[str, str]]:
    if health.providers_ready == 0:
        providers = "Unhealthy"
    elif health.providers_down:
        providers = "Degraded"
    else:
        providers = "Healthy"
    return [
        {"name": "database", "status": "Healthy" if health.database_up else "Unhealthy"},
        {"name": "providers", "status": providers},
    ]


def _original(status: str, checks: list[dict[str, str]], started: float) -> web.Response:
    body: dict[str, Any] = {
        "status": status,
        "checks": checks,
        "totalDuration": round((time.perf_counter() - started) * 1000, 3),
    }
    response = respond(dumps(body), "application/json")
    response.set_status(503 if status == "Unhealthy" else 200)
    return response
