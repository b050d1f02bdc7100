"""A burst of new calls (every real-time subscriber reconnecting after a restart) is queued by
the gateway's gRPC server, not refused: gRPC's default backlog protection cancels calls beyond
1,000 waiting to be picked up (SERVER_OPTIONS raise it)."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from timebase.grpc.server import GrpcServer

BURST = 6_000


async def test_a_burst_of_new_calls_is_answered_not_refused() -> None:
    server = GrpcServer("127.0.0.1", 0)
    await server.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") for _ in range(4)]
    try:
        stubs = [health_pb2_grpc.HealthStub(channel) for channel in channels]
        for channel in channels:
            await channel.channel_ready()
        calls = [
            stubs[k % len(stubs)].Check(health_pb2.HealthCheckRequest(service=""))
            for k in range(BURST)
        ]
        answers = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        for channel in channels:
            await channel.close(None)
        await server.stop(0.1)
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert refused == []
    statuses = {a.status for a in answers if not isinstance(a, BaseException)}
    assert statuses == {health_pb2.HealthCheckResponse.SERVING}
