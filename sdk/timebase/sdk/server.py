"""The gRPC server every SDK provider runs: `ProviderServer(provider)`.

One `grpc.aio` server with `timebase.provider.DataProvider` (`timebase.sdk.servicer`: the
contract over the provider, including the columnar `GetHistoricalBars`), the standard
`grpc.health.v1.Health` service (kept in step with the provider's own health check) and server
reflection. Running it as an add-on process (environment, signals, `serve()`) is
`timebase.sdk.process`.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.conventions import DEFAULT_PROVIDER_PORT
from timebase.sdk.provider import HealthState, Provider
from timebase.sdk.servicer import SERVICE_NAME, ProviderServicer, probe_health
from timebase.sdk.tasks import cancel_and_wait

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "LISTENING_PREFIX",
    "SERVICE_NAME",
    "ProviderServer",
]

log = logging.getLogger("timebase.sdk.server")

DEFAULT_PORT = DEFAULT_PROVIDER_PORT
DEFAULT_HOST = "127.0.0.1"
LISTENING_PREFIX = "TIMEBASE_PROVIDER_LISTENING"


class ProviderServer:
    """An embeddable provider server: ``async with ProviderServer(provider) as server: server.port``."""

    def __init__(
        self,
        provider: Provider,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        health_interval: float = 10.0,
    ) -> None:
        self.provider = provider
        self.manifest = provider.manifest
        self.host = host
        self.requested_port = port
        self.health_interval = health_interval
        self._port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self._health_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def target(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    async def start(self) -> int:
        """Start the provider and the server; return the bound port."""
        await self.provider.start()
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_DataProviderServicer_to_server(ProviderServicer(self.provider), server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = (
            f"[{self.host}]:{self.requested_port}"
            if ":" in self.host
            else f"{self.host}:{self.requested_port}"
        )
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {address}: {exc}") from None
        await server.start()
        self._server, self._port = server, port
        await self._set_serving(True)
        self._health_task = asyncio.create_task(self._watch_health())
        log.info("provider %s listening on %s", self.manifest.slug, self.target)
        return port

    async def _set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", SERVICE_NAME):
            await self._health.set(service, status)

    async def _watch_health(self) -> None:
        serving = True
        while True:
            await asyncio.sleep(self.health_interval)
            state, message, _ = await probe_health(self.provider)
            now = state is not HealthState.UNHEALTHY
            if now != serving:
                log.warning("provider health changed to %s: %s", state.value, message)
                await self._set_serving(now)
                serving = now

    async def stop(self, grace: float = 5.0, close_timeout: float = 5.0) -> None:
        """Staged shutdown: NOT_SERVING, refuse new RPCs, `grace` s for in-flight ones, close."""
        if self._server is None:
            return
        server, self._server = self._server, None
        health_task, self._health_task = self._health_task, None
        await cancel_and_wait(health_task)
        await self._health.enter_graceful_shutdown()
        await server.stop(grace)
        try:
            await asyncio.wait_for(self.provider.close(), close_timeout)
        except TimeoutError:
            log.warning("provider close() did not finish within %g s", close_timeout)
        except Exception:
            log.exception("provider close() failed")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> ProviderServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(grace=1.0)
