"""Health probes: the standard gRPC health service, else `DataProvider.HealthCheck`.

SDK providers serve `grpc.health.v1.Health`; existing TimeBase providers only answer
`timebase.provider.DataProvider/HealthCheck`. A `Prober` tries the standard service first and,
once it answers UNIMPLEMENTED, uses the provider's own check from then on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc

STANDARD = "grpc.health.v1.Health"
PROVIDER = "timebase.provider.DataProvider/HealthCheck"

# Reconnect quickly: gRPC's default backoff grows to 120 s, far longer than a probe interval.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),
)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    message: str
    method: str


class Prober:
    """Probes one address over one channel (`await close()` when done)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._provider = pb_grpc.DataProviderStub(self._channel)
        self._fallback = False

    @property
    def method(self) -> str:
        return PROVIDER if self._fallback else STANDARD

    async def probe(self, rpc_timeout: float) -> ProbeResult:
        started = time.monotonic()
        if not self._fallback:
            try:
                reply = await self._health.Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=rpc_timeout
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    return self._result(False, started, _rpc_error(exc), STANDARD)
                self._fallback = True
            else:
                ok = reply.status == health_pb2.HealthCheckResponse.SERVING
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                return self._result(ok, started, name, STANDARD)
        try:
            status = await self._provider.HealthCheck(empty_pb2.Empty(), timeout=rpc_timeout)
        except grpc.aio.AioRpcError as exc:
            return self._result(False, started, _rpc_error(exc), PROVIDER)
        name = pb.HealthStatus.Status.Name(status.status)
        message = f"{name}: {status.message}" if status.message else name
        return self._result(status.status != pb.HealthStatus.UNHEALTHY, started, message, PROVIDER)

    @staticmethod
    def _result(ok: bool, started: float, message: str, method: str) -> ProbeResult:
        return ProbeResult(ok, (time.monotonic() - started) * 1000.0, message, method)

    async def close(self) -> None:
        await self._channel.close(None)


def _rpc_error(exc: grpc.aio.AioRpcError) -> str:
    details = exc.details() or ""
    return f"{exc.code().name}: {details}" if details else exc.code().name
