"""The REST door (aiohttp): the application (`build_app`) and the server's lifecycle.

    rest = RestServer(api, host=..., port=..., config=config.rest, realtime=hub, tls=None)
                      # tls: a timebase.core.tls.ServerTls (HTTPS; client certificates
                      # required when it has a client CA)
                      # api: the app's QueryApi; without a supervisor the admin routes are 501
    await rest.start()      # rest.port is the bound port (port 0 picks a free one)
    ...
    await rest.stop()

The application holds its dependencies under `web.AppKey`s (`keys`), its routes in one module
per area (`routes`), its middlewares in `middleware`; its own resources open and close with it
(`cleanup_ctx`, `on_shutdown`). Responses are compressed by aiohttp (`responses`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from timebase.auth.authenticator import Authenticator
from timebase.core.config import RestConfig
from timebase.core.tls import ServerTls
from timebase.gateway.query import QueryApi
from timebase.gateway.realtime import RealtimeHub
from timebase.rest import guard, middleware, page
from timebase.rest.auth import AUTHENTICATOR, authenticate
from timebase.rest.docs_page import render as render_docs
from timebase.rest.envelope import dumps
from timebase.rest.keys import API, CONFIG, DOCS_BODY, LIMITER, METRICS, SPEC_BODY, STREAMS
from timebase.rest.metrics import Metrics
from timebase.rest.openapi import build_spec
from timebase.rest.ratelimit import ClientRateLimiter
from timebase.rest.routes import ROUTES
from timebase.rest.websocket import StreamHandler
from timebase.sdk.conventions import DEFAULT_HTTP_PORT, VERSION
from timebase.sdk.errors import ServerStartError

_log = logging.getLogger("timebase.rest")


def build_app(
    api: QueryApi,
    *,
    config: RestConfig | None = None,
    metrics: Metrics | None = None,
    realtime: RealtimeHub | None = None,
    host: str = "127.0.0.1",
    authenticator: Authenticator | None = None,
) -> web.Application:
    """The REST application over `api` (its routes, middlewares and dependencies); `host` is
    the bind address (a Host the door serves, besides the loopback names); requests are
    authenticated by `authenticator` (None: auth off)."""
    config = config or RestConfig()
    # The envelope first (every error leaves as JSON), then the request checks (Host first),
    # then who is asking, then their rate limit.
    app = web.Application(
        middlewares=[
            middleware.envelope,
            *guard.MIDDLEWARES,
            authenticate,
            middleware.rate_limit,
        ]
    )
    guard.install(app, guard.Guard.build(host, config.allowed_hosts, config.cors_origins))
    app[API] = api
    app[AUTHENTICATOR] = authenticator or Authenticator.disabled()
    app[CONFIG] = config
    app[METRICS] = metrics or Metrics(api.history, api.store, realtime)
    app[LIMITER] = ClientRateLimiter(config.rate_limit_per_second, config.rate_limit_burst)
    app[STREAMS] = StreamHandler(realtime)
    spec = build_spec(VERSION)
    app[SPEC_BODY] = dumps(spec)
    app[DOCS_BODY] = render_docs(spec).encode()
    for table in ROUTES:
        app.add_routes(table)
    app.add_routes(page.routes)
    app.cleanup_ctx.append(_streams)
    app.on_shutdown.append(_close_streams)
    return app


async def _streams(app: web.Application) -> AsyncIterator[None]:
    """The WebSocket streams live as long as the application: none is left open after it."""
    yield
    await app[STREAMS].close_all()


async def _close_streams(app: web.Application) -> None:
    # On shutdown, before aiohttp waits for running handlers: a WebSocket never ends by itself.
    await app[STREAMS].close_all()


class RestServer:
    """The REST door; see the module docstring."""

    def __init__(
        self,
        api: QueryApi,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_HTTP_PORT,
        config: RestConfig | None = None,
        realtime: RealtimeHub | None = None,
        metrics: Metrics | None = None,
        shutdown_timeout: float = 3.0,
        tls: ServerTls | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.api = api
        self.tls = tls
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.shutdown_timeout = shutdown_timeout
        self.app = build_app(
            self.api,
            config=config,
            metrics=metrics or Metrics(api.history, api.store, realtime),
            realtime=realtime,
            host=host,
            authenticator=authenticator,
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
            # A client that disconnects cancels its handler (aiohttp's default is to let it
            # run on): its provider fetches stop and its database connection goes back.
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(
            runner,
            self.host,
            self.requested_port,
            ssl_context=self.tls.ssl_context if self.tls is not None else None,
        )
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
        _log.info(
            "REST server listening",
            extra={"address": f"{self.host}:{self.port}", "tls": self.tls is not None},
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
