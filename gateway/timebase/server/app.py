"""The TimeBase application: database, store and servers, started and stopped in order.

`TimeBaseApp(config)` is built synchronously; `await app.start()` brings everything up (the
embedded PostgreSQL when no database URL is configured, migrations, servers) and `await
app.stop()` shuts it down in reverse order, each stage under its own timeout.

The embedded PostgreSQL is supervised (`EmbeddedSupervisor`): restarted when it crashes, a few
times at most; when it gives up, `failed` is set with the reason in `failure`, and `timebase
serve` stops and exits with code 3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from timebase.auth.authenticator import Authenticator
from timebase.auth.policy import check_bind
from timebase.calendars.registry import Calendars
from timebase.core.config import Config
from timebase.core.tls import ServerTls, load_server_tls
from timebase.flight import FlightServer
from timebase.gateway.catalogue import SymbolCatalogue
from timebase.gateway.history import HistoricalBars
from timebase.gateway.query import QueryApi
from timebase.gateway.realtime import RealtimeHub, UpstreamTarget
from timebase.gateway.watchlists import WatchlistRunner
from timebase.grpc import GrpcServer
from timebase.rest import RestServer
from timebase.rest.metrics import Metrics
from timebase.rest.watchlist_metrics import WatchlistCollector
from timebase.sdk.intervals import Interval
from timebase.store import Store, redact_url
from timebase.store.embedded import EmbeddedPostgres
from timebase.store.embedded_supervisor import EmbeddedSupervisor, RestartPolicy
from timebase.store.hot_tier import HotTier
from timebase.supervisor import ProviderState, Supervisor

_log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0


def hot_tier(config: Config) -> HotTier | None:
    """The store's hot tier as configured (`hot_tier` section), or None when off."""
    if not config.hot_tier.enabled:
        return None
    return HotTier(config.hot_tier.path(config.data_dir), max_bytes=config.hot_tier.max_bytes)


@dataclass(frozen=True)
class Endpoint:
    """A door TimeBase serves: what it is, where it listens and a one-line example."""

    name: str
    address: str
    example: str = ""


class TimeBaseApp:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.embedded: EmbeddedPostgres | None = None
        self.database_supervisor: EmbeddedSupervisor | None = None
        #: Set when TimeBase cannot go on (the embedded database is lost); `failure` says why.
        self.failed = asyncio.Event()
        self.failure: str | None = None
        self.database_url: str | None = config.database.connection_url()
        self.store: Store | None = None
        self.supervisor = Supervisor(config)
        self.history: HistoricalBars | None = None
        self.realtime: RealtimeHub | None = None
        self.api: QueryApi | None = None
        self.grpc = GrpcServer(config.host, config.grpc_port, max_bars=config.grpc.max_bars)
        self.flight = FlightServer(
            config.host,
            config.flight_port,
            max_bars=config.flight.max_bars,
            max_symbols=config.flight.max_symbols,
            peers=config.flight.peers,
            endpoint_bars=config.flight.endpoint_bars,
        )
        self.rest: RestServer | None = None
        #: The doors' TLS (tls section), read at start; None: plaintext.
        self.tls: ServerTls | None = None
        self.authenticator: Authenticator | None = None
        self._stops: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    async def start(self) -> None:
        """Start every component; on failure, stop what was started and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        check_bind(self.config)  # no keys beyond loopback: refuse before anything starts
        if self.database_url is None:
            self.embedded = EmbeddedPostgres(
                self.config.data_dir,
                settings=self.config.database.embedded_settings,
                timescaledb=self.config.database.embedded_timescaledb,
            )
            await self.embedded.start()
            self._stops.append(("embedded database", self.embedded.stop))
            self.database_url = self.embedded.url
        self.store = Store(
            self.database_url,
            pool_size=self.config.database.pool_size,
            retention=self.config.retention,
            acquire_timeout=self.config.database.acquire_timeout_seconds,
            hot_tier=hot_tier(self.config),
            scaled_prices=self.config.database.scaled_prices,
        )
        await self.store.start()
        self._stops.append(("store", self.store.stop))
        if self.embedded is not None:
            database = self.config.database
            self.database_supervisor = EmbeddedSupervisor(
                self.embedded,
                self.store.pool,
                RestartPolicy(
                    max_restarts=database.embedded_restarts,
                    window=database.embedded_restart_window_seconds,
                    check_interval=database.embedded_check_interval_seconds,
                    backoff_base=database.embedded_restart_backoff_seconds,
                ),
                on_exhausted=self._fail,
            )
            await self.database_supervisor.start()
            self._stops.append(("embedded database supervisor", self.database_supervisor.stop))
        # One authenticator for every door (API keys from the configuration and the database).
        self.authenticator = Authenticator(self.config.auth, self.store.pool)
        await self.authenticator.start()
        self._stops.append(("authenticator", self.authenticator.stop))
        await self.supervisor.start()
        self._stops.append(("providers", self.supervisor.stop))
        self.history = HistoricalBars(
            self.store,
            self.supervisor,
            self.config.routing,
            limits=self.config.gateway,
            # Exchange calendars' session tables, built once (docs/calendars.md).
            calendars=Calendars(self.config.data_dir / "calendars"),
        )
        await self.history.start()
        self._stops.append(("historical bars", self.history.stop))
        self.realtime = RealtimeHub(self.store, self._realtime_targets)
        await self.realtime.start()
        self._stops.append(("real-time hub", self.realtime.stop))
        # One registry of request metrics for every door, served by REST at /metrics.
        self.metrics = Metrics(self.history, self.store, self.realtime)
        self.watchlists = WatchlistRunner(self.history, self.config.watchlists)
        self.metrics.registry.register(WatchlistCollector(self.watchlists))
        # One query API for every door: what each door asks the core.
        self.api = QueryApi(
            self.history,
            supervisor=self.supervisor,
            catalogue=SymbolCatalogue(
                self.history,
                refresh_interval=self.config.symbols.refresh_interval_seconds,
                rpc_timeout=self.config.symbols.refresh_timeout_seconds,
            ),
            watchlists=self.watchlists,
        )
        await self.api.catalogue.start()
        self._stops.append(("symbol catalogue", self.api.catalogue.stop))
        # Watchlists: backfilled now, then refreshed on their schedules.
        await self.watchlists.start()
        self._stops.append(("watchlists", self.watchlists.stop))
        # TLS on every door or on none (the files were checked when the configuration loaded).
        self.tls = await asyncio.to_thread(load_server_tls, self.config.tls)
        self.grpc.tls = self.flight.tls = self.tls
        self.grpc.attach(
            self.api,
            realtime=self.realtime,
            metrics=self.metrics,
            authenticator=self.authenticator,
        )
        await self.grpc.start()
        self._stops.append(("gRPC server", self.grpc.stop))
        self.flight.attach(self.api, metrics=self.metrics, authenticator=self.authenticator)
        await self.flight.start()
        self._stops.append(("Flight server", self.flight.stop))
        self.rest = RestServer(
            self.api,
            host=self.config.host,
            port=self.config.http_port,
            config=self.config.rest,
            realtime=self.realtime,
            metrics=self.metrics,
            tls=self.tls,
            authenticator=self.authenticator,
        )
        await self.rest.start()
        self._stops.append(("REST server", self.rest.stop))

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self.failed.set()

    async def _realtime_targets(self, symbol: str, interval: str) -> list[UpstreamTarget]:
        """Providers to subscribe to for real-time bars of (symbol, interval), best first: the
        router's native candidates that stream in real time."""
        assert self.history is not None
        decision = await self.history.rank(symbol, Interval.parse(interval))
        return [
            UpstreamTarget(c.slug, c.provider.address)
            for c in decision.candidates
            if c.derived_from is None
            and c.provider.address is not None
            and c.provider.manifest is not None
            and c.provider.manifest.capabilities.real_time_streaming
        ]

    async def stop(self) -> None:
        """Stop components in reverse start order, each bounded by a timeout."""
        while self._stops:
            name, stop = self._stops.pop()
            try:
                await asyncio.wait_for(stop(), STOP_TIMEOUT_SECONDS)
            except TimeoutError:
                _log.error("stopping the %s timed out", name)
            except Exception:
                _log.exception("stopping the %s failed", name)

    def endpoints(self) -> list[Endpoint]:
        host = self.config.host
        grpc_address = f"{host}:{self.grpc.port}"
        rest_port = self.rest.port if self.rest is not None else self.config.http_port
        database = (
            f"embedded PostgreSQL, data in {self.embedded.pgdata}"
            if self.embedded is not None
            else "PostgreSQL"
        )
        if self.store is not None and self.store.timescale.enabled:
            database += f" with TimescaleDB {self.store.timescale.version}"
        # With TLS: the schemes say so, and the examples name the files a client needs
        # (the CA that signed the server's certificate; a client certificate when required).
        tls = self.tls
        keys = self.config.auth.enabled
        grpc_key = "-H 'authorization: Bearer $TIMEBASE_API_KEY' " if keys else ""
        curl_key = '-H "Authorization: Bearer $TIMEBASE_API_KEY" ' if keys else ""
        grpcurl = "-plaintext"
        curl = ""
        if tls is not None:
            grpcurl = "-cacert ca.pem" + (
                " -cert client.pem -key client.key" if tls.client_auth else ""
            )
            curl = " --cacert ca.pem" + (
                " --cert client.pem --key client.key" if tls.client_auth else ""
            )
        rest_url = f"{'https' if tls is not None else 'http'}://{host}:{rest_port}"
        return [
            Endpoint(
                "gRPC",
                f"grpcs://{grpc_address}" if tls is not None else grpc_address,
                f'grpcurl {grpcurl} {grpc_key}-d \'{{"symbol": "SYN:ACME", "interval": "1d", '
                f'"limit": 5}}\' {grpc_address} timebase.v1.GatewayService/GetBars',
            ),
            Endpoint(
                "Flight",
                self.flight.location,
                _cli_tls(tls) + "timebase get SYN:ACME -i 1d --start 2024-01-01 --end 2024-01-31",
            ),
            Endpoint(
                "REST",
                rest_url,
                f"curl -s{curl} {curl_key}'{rest_url}/api/data/SYN:ACME?interval=1d&limit=5'",
            ),
            Endpoint("database", database, f'psql "{redact_url(self.database_url or "")}"'),
            *(
                Endpoint(f"provider {state.slug}", _describe(state))
                for state in self.supervisor.providers()
            ),
        ]


def _cli_tls(tls: ServerTls | None) -> str:
    """The environment a `timebase` client command needs for these doors (see `tls_options`)."""
    if tls is None:
        return ""
    env = "TIMEBASE_TLS_CA_FILE=ca.pem "
    if tls.client_auth:
        env += "TIMEBASE_TLS_CLIENT_CERT_FILE=client.pem TIMEBASE_TLS_CLIENT_KEY_FILE=client.key "
    return env


def _describe(state: ProviderState) -> str:
    if state.ready:
        return f"{state.status.value} at {state.address} ({state.runtime})"
    reason = f": {state.last_error}" if state.last_error else ""
    return f"{state.status.value}{reason}"
