"""The REST middlewares: the envelope (correlation id, errors, metrics, access log) and the
per-client rate limit.

Every request runs in a correlation scope whose id is the request's `X-Request-ID` (the client's
when it sent a usable one, else a new one); the id is echoed in the response and in every log
line written while serving it. Every error — unknown route, wrong method, bad query, core error,
unexpected exception — leaves through `timebase.rest.errors.http_error` as the JSON envelope.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from timebase.rest.auth import METRICS_PATH, PROBE_PATHS
from timebase.rest.envelope import REQUEST_ID_KEY, STARTED_KEY, error_body
from timebase.rest.errors import http_error, log_error
from timebase.rest.keys import CONFIG, DOOR, LIMITER, METRICS
from timebase.rest.ratelimit import Decision
from timebase.sdk.errors import (
    ClientRateLimited,
    InvalidRequestError,
    MethodNotAllowed,
    RouteNotFound,
)
from timebase.sdk.logs import correlation_scope, new_correlation_id

_log = logging.getLogger("timebase.rest")

_REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
#: Paths not counted against the client's rate limit: the probes, the API's description and the
#: metrics scrape.
UNLIMITED = PROBE_PATHS | {METRICS_PATH}
_DECISION_KEY = web.RequestKey("timebase_rate_limit", Decision)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def envelope(request: web.Request, handler: Handler) -> Any:
    started = time.perf_counter()
    raw = request.headers.get("X-Request-ID", "")
    request_id = raw if _REQUEST_ID_RE.fullmatch(raw) else new_correlation_id()
    request[REQUEST_ID_KEY] = request_id
    request[STARTED_KEY] = started
    with correlation_scope(request_id):
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            response = error_response(request, _as_timebase_error(request, exc))
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
            decision: Decision | None = request.get(_DECISION_KEY)
            if decision is not None:
                response.headers.update(decision.headers())
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        request.app[METRICS].observe(DOOR, route, request.method, response.status, elapsed)
        _log.info(
            "%s %s %d %.1f ms",
            request.method,
            request.path_qs,
            response.status,
            elapsed * 1000,
            extra={"route": route, "status": response.status, "client": request.remote},
        )
        return response


@web.middleware
async def rate_limit(request: web.Request, handler: Handler) -> Any:
    if request.app[CONFIG].rate_limit_enabled and request.path not in UNLIMITED:
        limiter = request.app[LIMITER]
        decision = limiter.take(request.remote or "unknown")
        request[_DECISION_KEY] = decision
        if not decision.allowed:
            raise ClientRateLimited(
                f"too many requests: at most {limiter.rate:g} per second with bursts "
                f"of {limiter.burst}; retry in {decision.retry_after:.2f} s",
                retry_after=decision.retry_after,
                limit=decision.limit,
            )
    return await handler(request)


def error_response(request: web.Request, exc: BaseException) -> web.Response:
    """The error envelope of `exc` (logged as it deserves)."""
    log_error(exc, f"{request.method} {request.path}")
    request_id = request[REQUEST_ID_KEY]
    error = http_error(exc, request_id)
    body = error_body(
        error.code, error.message, error.details, request_id, request.get(STARTED_KEY)
    )
    return web.Response(
        body=body, status=error.status, content_type="application/json", headers=error.headers
    )


def _as_timebase_error(request: web.Request, exc: BaseException) -> BaseException:
    """aiohttp's own HTTP errors (no route, wrong method, …) as TimeBase errors."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return MethodNotAllowed(
            f"method {request.method} is not allowed on {request.path} (allowed: {allowed})",
            allowed=sorted(exc.allowed_methods),
        )
    if isinstance(exc, web.HTTPNotFound):
        return RouteNotFound(
            f"no route {request.method} {request.path}; the routes are listed at /openapi.json "
            "and /docs",
            path=request.path,
        )
    if isinstance(exc, web.HTTPException) and exc.status < 500:
        return InvalidRequestError(exc.reason or f"HTTP {exc.status}", status=exc.status)
    return exc


def _route_name(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"
