"""Validation messages, reflection, health (database probe), capabilities and quota persistence."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from adbc_driver_postgresql import dbapi
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.eventually import eventually
from timebase.core.config import RoutingConfig
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import StaticProvider
from timebase.provider import provider_pb2 as pb
from timebase.sdk.status import retry_after_from_metadata

from .support import DAY, T0, RecordingProvider, request, running_gateway

FAR = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (request("", "1d", T0, T0 + DAY), "symbol: must not be empty"),
        (
            request("BAD SYMBOL", "1d", T0, T0 + DAY),
            "symbol: 'BAD SYMBOL' may contain only letters, digits and . - ^ = : _",
        ),
        (request("A" * 65, "1d", T0, T0 + DAY), "symbol: at most 64 characters, got 65"),
        (
            request("AAPL", "2d", T0, T0 + DAY),
            "interval: unknown interval '2d'; valid intervals: 1m, 5m, 15m, 30m, 1h, 4h, 1d, "
            "1wk, 1mo",
        ),
        (
            request("AAPL", "1d", T0 + DAY, T0),
            "start_time: must be before end_time (got start_time=2024-01-02T00:00:00+00:00, "
            "end_time=2024-01-01T00:00:00+00:00)",
        ),
        (request("AAPL", "1d", None, T0), "start_time: required unless limit is set"),
        (request("AAPL", "1d", T0, T0 + DAY, limit=0), "limit: must be a positive integer, got 0"),
        (
            request("AAPL", "1m", datetime(2000, 1, 1, tzinfo=UTC), T0),
            "end_time: [2000-01-01T00:00:00+00:00, 2024-01-01T00:00:00+00:00) holds up to "
            "12,623,040 1m bars, more than the 5,000,000 one gRPC answer may hold "
            "(grpc.max_bars): ask for a shorter range or a coarser interval, or set limit, or "
            "use Arrow Flight",
        ),
        (
            request("AAPL", "1d", T0, datetime(9999, 12, 31, tzinfo=UTC)),
            "end_time: 9999-12-31T00:00:00+00:00 is out of range; dates from 1900-01-01 to "
            "2200-01-01 (UTC) are accepted",
        ),
        (
            request("AAPL", "1d", datetime(1, 1, 1, tzinfo=UTC), T0),
            "start_time: 0001-01-01T00:00:00+00:00 is out of range; dates from 1900-01-01 to "
            "2200-01-01 (UTC) are accepted",
        ),
        (
            request("AAPL", "1d", T0, T0 + DAY, provider="Not A Slug"),
            "provider: 'Not A Slug' is not a provider slug (a-z, 0-9, '-', '_')",
        ),
    ],
)
async def test_invalid_requests_are_invalid_argument_naming_the_field(
    fresh_database_url, req, message
):
    async with running_gateway(fresh_database_url) as gw:
        for rpc in (gw.data.GetHistoricalBars, gw.data.GetHistoricalData):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                [m async for m in rpc(req)]
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert str(err.value.details()) == message


async def test_valid_symbols_are_accepted(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_gateway(fresh_database_url, alpha) as gw:
        for symbol in ("SYN:ACME", "BRK.B", "^GSPC", "EURUSD=X", "BTC-USD"):
            [c async for c in gw.data.GetHistoricalBars(request(symbol, "1d", T0, T0 + DAY))]
        assert [r[0] for r in alpha.requests] == [
            "SYN:ACME",
            "BRK.B",
            "^GSPC",
            "EURUSD=X",
            "BTC-USD",
        ]


async def test_reflection_lists_the_services_and_capabilities_are_the_union(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1m", "1d"])
    beta = RecordingProvider("beta", intervals=["1h"])
    async with running_gateway(fresh_database_url, alpha, beta) as gw:
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(gw.channel)

        async def ask() -> Any:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        replies = [r async for r in stub.ServerReflectionInfo(ask())]
        names = {s.name for s in replies[0].list_services_response.service}
        assert names == {
            "timebase.provider.DataProvider",
            "timebase.v1.GatewayService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        }
        caps = await gw.data.GetCapabilities(empty_pb2.Empty())
        assert caps.slug == "timebase-gateway"
        assert list(caps.intervals) == ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1wk", "1mo"]
        status = await gw.data.HealthCheck(empty_pb2.Empty())
        assert status.status == pb.HealthStatus.HEALTHY
        await gw.servers["beta"].stop(grace=0)
        gw.source.set(StaticProvider("beta", None, beta.manifest, status="failed"))
        status = await gw.data.HealthCheck(empty_pb2.Empty())
        assert status.status == pb.HealthStatus.DEGRADED
        assert status.message == "providers down: beta"


def _set_connections(url: str, allowed: bool) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with dbapi.connect(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            cur.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            cur.fetchall()


async def test_health_reflects_a_stopped_database(fresh_database_url):
    async with running_gateway(fresh_database_url, db_probe_interval=0.1) as gw:
        health: Any = health_pb2_grpc.HealthStub(gw.channel)

        async def status(service: str = "") -> int:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            return int(reply.status)

        async def is_status(expected: int) -> bool:
            return await status() == expected

        assert await status() == health_pb2.HealthCheckResponse.SERVING
        assert (
            await status("timebase.provider.DataProvider") == health_pb2.HealthCheckResponse.SERVING
        )
        await asyncio.to_thread(_set_connections, fresh_database_url, False)
        try:
            await eventually(
                lambda: is_status(health_pb2.HealthCheckResponse.NOT_SERVING), within=10
            )
            assert (
                await status("timebase.v1.GatewayService")
                == health_pb2.HealthCheckResponse.NOT_SERVING
            )
            reply = await gw.data.HealthCheck(empty_pb2.Empty())
            assert reply.status == pb.HealthStatus.UNHEALTHY
        finally:
            await asyncio.to_thread(_set_connections, fresh_database_url, True)
        await eventually(lambda: is_status(health_pb2.HealthCheckResponse.SERVING), within=10)


async def test_daily_quota_is_counted_persisted_and_answered_with_retry_info(fresh_database_url):
    alpha = RecordingProvider("alpha", rate_limits={"requests_per_day": 2})
    async with running_gateway(fresh_database_url, alpha, routing=RoutingConfig()) as gw:
        for day in range(2):
            [
                c
                async for c in gw.data.GetHistoricalBars(
                    request("SYN:A", "1d", T0 + day * DAY, T0 + (day + 1) * DAY)
                )
            ]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            [
                c
                async for c in gw.data.GetHistoricalBars(
                    request("SYN:A", "1d", T0 + 5 * DAY, T0 + 6 * DAY)
                )
            ]
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "daily quota of 2 requests used up" in str(err.value.details())
        retry = retry_after_from_metadata(err.value.trailing_metadata())
        assert retry is not None
        assert 0 < retry <= 86_400
        # A new gateway on the same database remembers today's count.
        again = HistoricalBars(gw.store, gw.source)
        await again.start()
        try:
            status = again.quota.status("alpha", alpha.manifest.rate_limits)
            assert not status.available
            assert status.use.day_used == 2
        finally:
            await again.stop()
        assert len(alpha.requests) == 2
