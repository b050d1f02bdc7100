"""The REST door (aiohttp): routes, middleware and the server's lifecycle.

    rest = RestServer(history, store, host=..., port=..., config=config.rest, realtime=hub,
                      supervisor=supervisor)   # supervisor: the admin routes (else 501)
    await rest.start()      # rest.port is the bound port (port 0 picks a free one)
    ...
    await rest.stop()

Every request runs in a correlation scope whose id is the request's `X-Request-ID` (the client's
when it sent a usable one, else a new one); the id is echoed in the response and in every log
line written while serving it. Every error — unknown route, wrong method, bad query, core error,
unexpected exception — leaves through `timebase.rest.errors.http_error` as the JSON envelope.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from timebase.core.config import RestConfig
from timebase.gateway.admin import ProviderAdmin, ProviderInstaller
from timebase.gateway.bar_request import check_provider, check_symbol
from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import ProviderView
from timebase.gateway.realtime import RealtimeHub
from timebase.rest import encoders
from timebase.rest.docs_page import render as render_docs
from timebase.rest.encoders import MEDIA_TYPES, WARNINGS_HEADER, Format
from timebase.rest.envelope import (
    REQUEST_ID_KEY,
    STARTED_KEY,
    dumps,
    error_body,
    meta,
    success_body,
)
from timebase.rest.errors import http_error, log_error
from timebase.rest.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from timebase.rest.metrics import Metrics
from timebase.rest.openapi import build_spec
from timebase.rest.params import interval as parse_interval
from timebase.rest.params import json_object, only, parse_bar_query
from timebase.rest.ratelimit import ClientRateLimiter, Decision
from timebase.rest.websocket import StreamHandler
from timebase.sdk.conventions import DEFAULT_HTTP_PORT, VERSION
from timebase.sdk.errors import (
    ClientRateLimited,
    DatabaseError,
    DataUnavailable,
    InvalidRequestError,
    MethodNotAllowed,
    ProviderNotFound,
    RouteNotFound,
    ServerStartError,
)
from timebase.sdk.intervals import Interval
from timebase.sdk.logs import correlation_scope, new_correlation_id
from timebase.store import Store

_log = logging.getLogger("timebase.rest")

DOOR = "rest"
_REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
#: Paths not counted against the client's rate limit.
_UNLIMITED = frozenset({"/api/health", "/openapi.json", "/docs", "/metrics"})
#: Bodies at least this large are gzipped when the client accepts gzip …
_GZIP_MIN_BYTES = 1024
#: … and bodies (or bar tables) this large are encoded off the event loop.
_THREAD_MIN_BYTES = 256 * 1024
_THREAD_MIN_ROWS = 5_000
_DECISION_KEY = web.RequestKey("timebase_rate_limit", Decision)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RestServer:
    """The REST door; see the module docstring."""

    def __init__(
        self,
        history: HistoricalBars,
        store: Store,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_HTTP_PORT,
        config: RestConfig | None = None,
        realtime: RealtimeHub | None = None,
        metrics: Metrics | None = None,
        shutdown_timeout: float = 3.0,
        supervisor: ProviderInstaller | None = None,
    ) -> None:
        self.history = history
        self.admin = ProviderAdmin(supervisor, history)
        self.store = store
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.config = config or RestConfig()
        self.realtime = realtime
        self.metrics = metrics or Metrics(history, store, realtime)
        self.shutdown_timeout = shutdown_timeout
        self.limiter = ClientRateLimiter(
            self.config.rate_limit_per_second, self.config.rate_limit_burst
        )
        self.probe = DatabaseProbe(store, timeout=2.0)
        self.spec = build_spec(VERSION)
        self._spec_body = dumps(self.spec)
        self._docs_body = render_docs(self.spec).encode()
        self.stream = StreamHandler(realtime)
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            address = f"{self.host}:{self.requested_port}"
            raise ServerStartError(
                f"REST cannot listen on {address}: {exc.strerror or exc}; choose another with "
                "TIMEBASE_HTTP_PORT / TIMEBASE_HOST",
                address=address,
            ) from exc
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        _log.info("REST server listening", extra={"address": f"{self.host}:{self.port}"})

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.stream.close_all()
        await runner.cleanup()

    # -- the application ------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._envelope_middleware, self._rate_middleware])
        get: list[tuple[str, Handler]] = [
            ("/api/data/{symbol}", self.bars),
            ("/api/providers/{slug}/data/{symbol}", self.provider_bars),
            ("/api/symbols/{symbol}/providers", self.symbol_providers),
            ("/api/providers", self.providers),
            ("/api/providers/{slug}", self.provider),
            ("/api/health", self.health),
            ("/api/version", self.version),
            ("/api/stream", self.stream.handle),
            ("/openapi.json", self.openapi),
            ("/docs", self.docs),
            ("/metrics", self.metrics_text),
        ]
        for path, handler in get:
            app.router.add_get(path, handler, allow_head=False)
        # The admin routes (see docs/rest.md: only folders in the providers directories).
        app.router.add_post("/api/providers", self.install_provider)
        app.router.add_delete("/api/providers/{slug}", self.remove_provider)
        return app

    @web.middleware
    async def _envelope_middleware(self, request: web.Request, handler: Handler) -> Any:
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
                response = self._error_response(request, _as_timebase_error(request, exc))
            if not response.prepared:
                response.headers["X-Request-ID"] = request_id
                decision: Decision | None = request.get(_DECISION_KEY)
                if decision is not None:
                    response.headers.update(decision.headers())
            elapsed = time.perf_counter() - started
            route = _route_name(request)
            self.metrics.observe(DOOR, route, request.method, response.status, elapsed)
            _log.info(
                "%s %s %d %.1f ms",
                request.method,
                request.path_qs,
                response.status,
                elapsed * 1000,
                extra={"route": route, "status": response.status, "client": request.remote},
            )
            return response

    def _error_response(self, request: web.Request, exc: BaseException) -> web.Response:
        what = f"{request.method} {request.path}"
        log_error(exc, what)
        request_id = request[REQUEST_ID_KEY]
        error = http_error(exc, request_id)
        body = error_body(
            error.code, error.message, error.details, request_id, request.get(STARTED_KEY)
        )
        return web.Response(
            body=body,
            status=error.status,
            content_type="application/json",
            headers=error.headers,
        )

    @web.middleware
    async def _rate_middleware(self, request: web.Request, handler: Handler) -> Any:
        if self.config.rate_limit_enabled and request.path not in _UNLIMITED:
            decision = self.limiter.take(request.remote or "unknown")
            request[_DECISION_KEY] = decision
            if not decision.allowed:
                raise ClientRateLimited(
                    f"too many requests: at most {self.limiter.rate:g} per second with bursts "
                    f"of {self.limiter.burst}; retry in {decision.retry_after:.2f} s",
                    retry_after=decision.retry_after,
                    limit=decision.limit,
                )
        return await handler(request)

    # -- responses ------------------------------------------------------------------------------

    async def _respond(
        self,
        request: web.Request,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        out = dict(headers or {})
        if len(body) >= _GZIP_MIN_BYTES and _accepts_gzip(request.headers.get("Accept-Encoding")):
            if len(body) >= _THREAD_MIN_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, 5)
            else:
                body = gzip.compress(body, 5)
            out["Content-Encoding"] = "gzip"
        out["Vary"] = "Accept, Accept-Encoding"
        response = web.Response(body=body, headers=out)
        response.content_type = content_type
        if content_type.startswith(("application/json", "text/")):
            response.charset = "utf-8"
        return response

    async def _ok(self, request: web.Request, data: Any) -> web.Response:
        body = success_body(data, request[REQUEST_ID_KEY], request[STARTED_KEY])
        return await self._respond(request, body, "application/json")

    # -- bars -----------------------------------------------------------------------------------

    async def bars(self, request: web.Request) -> web.Response:
        return await self._bars(request, None)

    async def provider_bars(self, request: web.Request) -> web.Response:
        return await self._bars(request, request.match_info["slug"])

    async def _bars(self, request: web.Request, provider: str | None) -> web.Response:
        query = request.query
        fmt = encoders.negotiate(request.headers.get("Accept"), query.get("format"))
        bar_request = parse_bar_query(request.match_info["symbol"], query, provider)
        answer = await self.history.get(bar_request)
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
        encoders.check_size(table.num_rows, fmt, self.config.max_bars)
        self.metrics.rows_served(DOOR, fmt.value, table.num_rows)
        big = table.num_rows >= _THREAD_MIN_ROWS
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
            body = encoders.json_body(envelope, rows)
            return await self._respond(request, body, MEDIA_TYPES[Format.JSON])
        headers = {WARNINGS_HEADER: encoders.warnings_header(warnings)}
        if fmt is Format.CSV:
            body = (
                await asyncio.to_thread(encoders.csv_body, table)
                if big
                else encoders.csv_body(table)
            )
        else:
            body = (
                await asyncio.to_thread(encoders.arrow_body, table, warnings)
                if big
                else encoders.arrow_body(table, warnings)
            )
        return await self._respond(request, body, MEDIA_TYPES[fmt], headers)

    # -- providers ------------------------------------------------------------------------------

    async def providers(self, request: web.Request) -> web.Response:
        return await self._ok(request, {"providers": await self._provider_list()})

    async def provider(self, request: web.Request) -> web.Response:
        slug = check_provider(request.match_info["slug"], "slug")
        listing = await self._provider_list()
        found = next((p for p in listing if p["slug"] == slug), None)
        if found is None:
            known = ", ".join(p["slug"] for p in listing) or "none"
            raise ProviderNotFound(
                f"slug: unknown provider {slug!r} (providers: {known})", provider=slug
            )
        return await self._ok(request, found)

    async def _provider_list(self) -> list[dict[str, Any]]:
        history = self.history
        running = history.providers()
        out = [self._provider_entry(view) for view in running]
        known = {v.slug for v in running}
        stored = sorted({d.provider for d in await history.store.datasets()} - known)
        for slug in stored:
            out.append(
                {
                    "slug": slug,
                    "name": None,
                    "version": None,
                    "status": "stored",
                    "address": None,
                    "latencyMs": None,
                    "uptime": None,
                    "restarts": 0,
                    "lastError": None,
                    "circuit": "closed",
                    "intervals": [],
                    "symbolPatterns": [],
                    "supportsHistorical": True,
                    "supportsRealtime": False,
                    "cost": None,
                }
            )
        return out

    def _provider_entry(self, view: ProviderView) -> dict[str, Any]:
        history = self.history
        manifest = view.manifest
        entry: dict[str, Any] = {
            "slug": view.slug,
            "name": manifest.name if manifest else None,
            "version": manifest.version if manifest else None,
            "status": "disabled" if view.slug in history.router.disabled else str(view.status),
            "address": view.address,
            "latencyMs": view.latency_ms,
            "uptime": view.uptime,
            "restarts": view.restarts,
            "lastError": view.last_error or history.router.disabled.get(view.slug),
            "circuit": history.breaker.state(view.slug),
            "intervals": list(manifest.intervals) if manifest else [],
            "symbolPatterns": [p.pattern for p in manifest.symbols] if manifest else [],
            "supportsHistorical": bool(manifest and manifest.capabilities.historical_data),
            "supportsRealtime": bool(manifest and manifest.capabilities.real_time_streaming),
            "cost": manifest.cost if manifest else None,
        }
        if manifest is not None:
            limits = manifest.rate_limits
            use = history.quota.use(view.slug)
            entry["quota"] = {
                "requestsPerMinuteLimit": limits.requests_per_minute,
                "requestsPerDayLimit": limits.requests_per_day,
                "requestsThisMinute": use.minute_used,
                "requestsToday": use.day_used,
                "blockedUntil": use.blocked_until,
            }
        return entry

    # -- admin ----------------------------------------------------------------------------------

    async def install_provider(self, request: web.Request) -> web.Response:
        only(request.query, set())
        body = await json_object(request, {"folder"})
        folder = body.get("folder")
        if not isinstance(folder, str):
            raise InvalidRequestError(
                "folder: required: a string, the provider folder inside a configured providers "
                "directory (or its name)",
                field="folder",
            )
        state = await self.admin.install(folder)
        view = next((v for v in self.history.providers() if v.slug == state.slug), state)
        response = await self._ok(request, self._provider_entry(view))
        response.set_status(201)
        response.headers["Location"] = f"/api/providers/{state.slug}"
        return response

    async def remove_provider(self, request: web.Request) -> web.Response:
        only(request.query, set())
        slug = request.match_info["slug"]
        await self.admin.remove(slug)
        return await self._ok(request, {"slug": slug, "removed": True})

    async def symbol_providers(self, request: web.Request) -> web.Response:
        only(request.query, {"interval"})
        symbol = check_symbol(request.match_info["symbol"])
        interval = parse_interval(request.query.get("interval", Interval.D1.value))
        decision = await self.history.rank(symbol, interval)
        return await self._ok(
            request,
            {
                "symbol": symbol,
                "interval": interval.value,
                "candidates": [
                    {
                        "slug": c.slug,
                        "rank": rank,
                        "derivedFrom": c.derived_from.value if c.derived_from else None,
                        "latestStored": c.latest,
                        "reasons": list(c.reasons),
                    }
                    for rank, c in enumerate(decision.candidates, start=1)
                ],
                "excluded": [
                    {"slug": slug, "reason": reason}
                    for slug, reason in sorted(decision.excluded.items())
                ],
            },
        )

    # -- service --------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        database_up = await self.probe.check()
        providers = self.history.providers()
        ready = [p.slug for p in providers if p.ready]
        down = sorted(p.slug for p in providers if not p.ready)
        data: dict[str, Any] = {
            "database": {"up": database_up, "error": self.probe.last_error},
            "providers": {"ready": len(ready), "total": len(providers), "down": down},
        }
        if not database_up:
            return self._error_response(
                request,
                _DatabaseDown(
                    f"the database is unreachable: {self.probe.last_error}",
                    status="unhealthy",
                    **data,
                ),
            )
        if providers and not ready:
            data.update(status="degraded", message="no provider is running: stored bars only")
        elif down:
            data.update(status="degraded", message=f"providers down: {', '.join(down)}")
        else:
            data.update(status="healthy", message="ok")
        return await self._ok(request, data)

    async def version(self, request: web.Request) -> web.Response:
        return await self._ok(request, {"name": "TimeBase", "version": VERSION})

    async def openapi(self, request: web.Request) -> web.Response:
        return await self._respond(request, self._spec_body, "application/json")

    async def docs(self, request: web.Request) -> web.Response:
        return await self._respond(request, self._docs_body, "text/html")

    async def metrics_text(self, request: web.Request) -> web.Response:
        return await self._respond(request, self.metrics.render(), METRICS_CONTENT_TYPE)


class _DatabaseDown(DatabaseError):
    """The health check found the database unreachable."""


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


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() in {"gzip", "x-gzip"}:
            return not any(p.replace(" ", "") in {"q=0", "q=0.0", "q=0.00"} for p in params)
    return False
