"""The gateway's gRPC server: DataProvider (federated), timebase.v1, health and reflection.

    grpc = GrpcServer(host, port, tls=None)        # tls: a timebase.core.tls.ServerTls
    grpc.attach(api, realtime=None, metrics=None, authenticator=None)
                                # the app's QueryApi, before start(); without it: health only;
                                # authenticator: API keys (None: auth off)
    await grpc.start()

Health is reported overall ("") and per service; every service is NOT_SERVING while the
database is unreachable (the query API's database probe, `SELECT 1` every `db_probe_interval`
seconds while the server runs).
"""

from __future__ import annotations

import logging
from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc

# grpc-stubs predates the asyncio servicer, hence the ignore.
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

import grpc
from timebase.auth.authenticator import Authenticator
from timebase.core.tls import ServerTls
from timebase.gateway.bar_limits import DEFAULT_MAX_BARS
from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.query import QueryApi
from timebase.gateway.request_metrics import RequestObserver
from timebase.grpc.data_provider_service import DataProviderService, grpc_limit
from timebase.grpc.gateway_service import GatewayService
from timebase.grpc.handlers import Registrations
from timebase.grpc.realtime import RealtimeHandler
from timebase.grpc.rendered import RenderedAnswers
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.errors import ServerStartError
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

_log = logging.getLogger(__name__)

DATA_PROVIDER_SERVICE = pb.DESCRIPTOR.services_by_name["DataProvider"].full_name
GATEWAY_SERVICE = v1.DESCRIPTOR.services_by_name["GatewayService"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

# Deliberate transport settings: keep idle client connections alive through NATs, allow messages
# up to 16 MiB in (bulk ingest) while our own replies stay in chunks under the 4 MiB default.
# A burst of new calls (thousands of real-time subscribers connecting at once, e.g. reconnecting
# after a restart) waits until the server picks each one up: gRPC's defaults cancel calls beyond
# 1,000 waiting (refused from 3,000) and any waiting longer than 30 s (docs/scaling.md).
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
    ("grpc.server_max_unrequested_time_in_server", 300),
]


class GrpcServer:
    """A grpc.aio server with the gateway's services, standard health and server reflection."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db_probe_interval: float = 5.0,
        tls: ServerTls | None = None,
        max_bars: int = DEFAULT_MAX_BARS,
    ) -> None:
        self.host = host
        #: Most bars one answer may hold (`grpc.max_bars`), checked before any work.
        self.bar_limit = grpc_limit(max_bars)
        self.requested_port = port
        #: Serve TLS (client certificates required when it has a client CA); None: plaintext.
        #: Set before start().
        self.tls = tls
        self.port: int | None = None
        self.health = health_aio.HealthServicer()
        self.db_probe_interval = db_probe_interval
        self.api: QueryApi | None = None
        self.probe: DatabaseProbe | None = None
        self.data_provider: DataProviderService | None = None
        self.gateway: GatewayService | None = None
        self._server: grpc.aio.Server | None = None
        self._metrics: RequestObserver | None = None
        #: Answers read from the hot tier, kept serialized for both bar services (`rendered`).
        self.rendered = RenderedAnswers()
        self._authenticator = Authenticator.disabled()

    def attach(
        self,
        api: QueryApi,
        realtime: RealtimeHandler | None = None,
        metrics: RequestObserver | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        """Serve DataProvider and timebase.v1 from the query API `api` (the one every door
        shares); its database probe drives gRPC health. Admin RPCs (InstallProvider,
        RemoveProvider) answer UNIMPLEMENTED when `api` has no supervisor. Every call but
        health and reflection is authenticated by `authenticator` (None: auth off)."""
        if self._server is not None:
            raise RuntimeError("attach() must be called before start()")
        self.api = api
        # Metrics time the whole call: refused calls are counted too, with their status.
        self._metrics = metrics
        self._authenticator = authenticator or Authenticator.disabled()
        self.probe = api.probe
        self.probe.listen(self._database_changed)
        self.data_provider = DataProviderService(api, realtime, self.bar_limit, self.rendered)
        self.gateway = GatewayService(api, self.bar_limit, self.rendered)

    @property
    def service_names(self) -> list[str]:
        names = [HEALTH_SERVICE]
        if self.data_provider is not None:
            names += [DATA_PROVIDER_SERVICE, GATEWAY_SERVICE]
        return names

    async def start(self) -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        # Each method is wrapped once here (metrics, auth), not per call (`handlers`).
        services = Registrations()
        target: Any = services  # it stands in for the server while the adders register
        health_pb2_grpc.add_HealthServicer_to_server(self.health, target)
        if self.data_provider is not None and self.gateway is not None:
            pb_grpc.add_DataProviderServicer_to_server(self.data_provider, target)
            v1_grpc.add_GatewayServiceServicer_to_server(self.gateway, target)
        # grpc-stubs predates the asyncio reflection servicer, hence the ignore.
        reflecting = reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
            [*self.service_names, reflection.SERVICE_NAME]
        )
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflecting, target)
        services.register(server, observer=self._metrics, authenticator=self._authenticator)
        address = f"{self.host}:{self.requested_port}"
        try:
            if self.tls is not None:
                self.port = server.add_secure_port(address, self.tls.grpc_credentials())
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ServerStartError(
                f"gRPC cannot listen on {address}: the port is in use or the address is not "
                "local; choose another with TIMEBASE_GRPC_PORT / TIMEBASE_HOST",
                address=address,
            ) from exc
        await server.start()
        self._server = server
        await self._set_health(True)
        if self.probe is not None:
            await self.probe.start(self.db_probe_interval)
        _log.info(
            "gRPC server listening",
            extra={"address": f"{self.host}:{self.port}", "tls": self.tls is not None},
        )

    async def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", *self.service_names[1:]):
            await self.health.set(service, status)

    async def _database_changed(self, up: bool) -> None:
        if self._server is not None:
            await self._set_health(up)

    async def stop(self, grace: float = 5.0) -> None:
        if self.probe is not None:
            await self.probe.stop()
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None
