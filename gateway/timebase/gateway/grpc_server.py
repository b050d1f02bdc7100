"""The gateway's gRPC server: health and reflection now; the DataProvider service joins later."""

from __future__ import annotations

import logging

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# grpc-stubs predates the asyncio servicer, hence the ignore.
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from timebase.core.errors import ServerStartError

_log = logging.getLogger(__name__)

# Deliberate transport settings: keep idle client connections alive through NATs, allow messages
# up to 16 MiB in (bulk ingest) while our own replies stay in chunks under the 4 MiB default.
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
]


class GrpcServer:
    """A grpc.aio server with the standard health service and server reflection."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.health = health_aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._service_names: list[str] = [
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        ]

    async def start(self) -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection([*self._service_names, reflection.SERVICE_NAME], server)
        address = f"{self.host}:{self.requested_port}"
        try:
            self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ServerStartError(
                f"gRPC cannot listen on {address}: the port is in use or the address is not "
                "local; choose another with TIMEBASE_GRPC_PORT / TIMEBASE_HOST",
                address=address,
            ) from exc
        await server.start()
        self._server = server
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        _log.info("gRPC server listening", extra={"address": f"{self.host}:{self.port}"})

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None
