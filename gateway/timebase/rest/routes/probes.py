"""Probes for orchestrators and the original TimeBase's health aliases.

Not rate limited (`timebase.rest.middleware.UNLIMITED`).

- `GET /api/health/live`: the process serves (200 whenever it answers at all).
- `GET /api/health/ready`: 200 when the database answers and at least one provider is ready;
  503 otherwise (DATABASE_ERROR, or PROVIDER_UNAVAILABLE when no provider is ready).
- `GET /health`, `/health/live`, `/health/ready`: the same checks in the original TimeBase's
  (ASP.NET health checks) shape: a JSON `status` Healthy, Degraded or Unhealthy (503 when
  Unhealthy), `checks` [{name, status, description, duration}] and `totalDuration` (ms);
  `/health/live` answers `{"status":"Healthy"}` as the original documents it, or the plain
  text `Healthy` (what its ASP.NET writer sends) to a client that accepts only text/plain.

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
    accept = request.headers.get("Accept", "")
    if "text/plain" in accept and "json" not in accept and "*/*" not in accept:
        return respond(b"Healthy", "text/plain")
    return respond(dumps({"status": "Healthy"}), "application/json")


@routes.get("/health", allow_head=False)
async def original_health(request: web.Request) -> web.Response:
    started = time.perf_counter()
    health = await request.app[API].health()
    return _original(ORIGINAL_STATUS[health.status], _checks(health, started), started)


@routes.get("/health/ready", allow_head=False)
async def original_ready(request: web.Request) -> web.Response:
    started = time.perf_counter()
    health = await request.app[API].health()
    if not is_ready(health):
        status = "Unhealthy"
    else:
        status = "Healthy" if health.status is HealthStatus.HEALTHY else "Degraded"
    return _original(status, _checks(health, started), started)


def _checks(health: Health, started: float) -> list[dict[str, Any]]:
    """The original's check entries. The database check took the probe's time; the providers'
    is read from the supervisor's state (no time). Descriptions tell counts, never names."""
    if health.providers_ready == 0:
        providers = "Unhealthy"
    elif health.providers_down:
        providers = "Degraded"
    else:
        providers = "Healthy"
    return [
        {
            "name": "database",
            "status": "Healthy" if health.database_up else "Unhealthy",
            "description": "The database answers"
            if health.database_up
            else "The database does not answer",
            "duration": _ms(started),
        },
        {
            "name": "providers",
            "status": providers,
            "description": f"{health.providers_ready} of {health.providers_total} providers ready",
            "duration": 0.0,
        },
    ]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _original(status: str, checks: list[dict[str, Any]], started: float) -> web.Response:
    body: dict[str, Any] = {"status": status, "checks": checks, "totalDuration": _ms(started)}
    response = respond(dumps(body), "application/json")
    response.set_status(503 if status == "Unhealthy" else 200)
    return response
