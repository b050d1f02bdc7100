"""The TimeBase application: database, store and servers, started and stopped in order.

`TimeBaseApp(config)` is built synchronously; `await app.start()` brings everything up (the
embedded PostgreSQL when no database URL is configured, migrations, servers) and `await
app.stop()` shuts it down in reverse order, each stage under its own timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from timebase.auth.authenticator import Authenticator
from timebase.auth.policy import check_bind
from timebase.core.config import Config
from timebase.flight import FlightServer
from timebase.gateway.history import HistoricalBars
from timebase.gateway.query import QueryApi
from timebase.gateway.realtime import RealtimeHub, UpstreamTarget
from timebase.grpc import GrpcServer
from timebase.rest import RestServer
from timebase.rest.metrics import Metrics
from timebase.sdk.intervals import Interval
from timebase.store import Store, redact_url
from timebase.store.embedded import EmbeddedPostgres
from timebase.supervisor import ProviderState, Supervisor

_log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0


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
        self.database_url: str | None = config.database.url
        self.store: Store | None = None
        self.supervisor = Supervisor(config)
        self.history: HistoricalBars | None = None
        self.realtime: RealtimeHub | None = None
        self.api: QueryApi | None = None
        self.grpc = GrpcServer(config.host, config.grpc_port)
        self.flight = FlightServer(config.host, config.flight_port)
        self.rest: RestServer | None = None
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
        )
        await self.store.start()
        self._stops.append(("store", self.store.stop))
        # One authenticator for every door (API keys from the configuration and the database).
        self.authenticator = Authenticator(self.config.auth, self.store.pool)
        await self.authenticator.start()
        self._stops.append(("authenticator", self.authenticator.stop))
        await self.supervisor.start()
        self._stops.append(("providers", self.supervisor.stop))
        self.history = HistoricalBars(self.store, self.supervisor, self.config.routing)
        await self.history.start()
        self._stops.append(("historical bars", self.history.stop))
        self.realtime = RealtimeHub(self.store, self._realtime_targets)
        await self.realtime.start()
        self._stops.append(("real-time hub", self.realtime.stop))
        # One registry of request metrics for every door, served by REST at /metrics.
        self.metrics = Metrics(self.history, self.store, self.realtime)
        # One query API for every door: what each door asks the core.
        self.api = QueryApi(self.history, supervisor=self.supervisor)
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
            authenticator=self.authenticator,
        )
        await self.rest.start()
        self._stops.append(("REST server", self.rest.stop))

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
        keys = self.config.auth.enabled
        grpc_key = "-H 'authorization: Bearer $TIMEBASE_API_KEY' " if keys else ""
        curl_key = '-H "Authorization: Bearer $TIMEBASE_API_KEY" ' if keys else ""
        return [
            Endpoint(
                "gRPC",
                grpc_address,
                f'grpcurl -plaintext {grpc_key}-d \'{{"symbol": "SYN:ACME", "interval": "1d", '
                f'"limit": 5}}\' {grpc_address} timebase.v1.GatewayService/GetBars',
            ),
            Endpoint(
                "Flight",
                f"grpc://{host}:{self.flight.port}",
                "timebase get SYN:ACME -i 1d --start 2024-01-01 --end 2024-01-31",
            ),
            Endpoint(
                "REST",
                f"http://{host}:{rest_port}",
                f"curl -s {curl_key}'http://{host}:{rest_port}/api/data/SYN:ACME?interval=1d&limit=5'",
            ),
            Endpoint("database", database, f'psql "{redact_url(self.database_url or "")}"'),
            *(
                Endpoint(f"provider {state.slug}", _describe(state))
                for state in self.supervisor.providers()
            ),
        ]


def _describe(state: ProviderState) -> str:
    if state.ready:
        return f"{state.status.value} at {state.address} ({state.runtime})"
    reason = f": {state.last_error}" if state.last_error else ""
    return f"{state.status.value}{reason}"
