"""The application lifecycle: start in order, stop in reverse, clean up after a failed start."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from adbc_driver_postgresql import dbapi
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from pyarrow import flight

from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, ProviderSettings
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.errors import ServerStartError
from timebase.server import TimeBaseApp
from timebase.store import discover_migrations
from timebase.v1 import bars_pb2, bars_pb2_grpc


def _applied_migrations(url: str) -> list[tuple[object, ...]]:
    with dbapi.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT version, name FROM timebase_migrations ORDER BY version")
        rows: list[tuple[object, ...]] = cur.fetchall()
        return rows


async def test_starts_store_and_grpc_on_an_external_database(
    fresh_database_url: str, timescale_on: bool
) -> None:
    app = TimeBaseApp(
        Config(
            grpc_port=0,
            flight_port=0,
            http_port=0,
            database=DatabaseConfig(url=fresh_database_url),
            providers=ProvidersConfig(enabled=("synthetic",), process_user="root"),
        )
    )
    await app.start()
    try:
        assert app.embedded is None
        assert app.store is not None
        applied = await asyncio.to_thread(_applied_migrations, fresh_database_url)
        expected = [(m.version, m.name) for m in await asyncio.to_thread(discover_migrations)]
        assert applied == expected
        assert applied[0] == (1, "bars")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        names = [e.name for e in app.endpoints()]
        assert names == ["gRPC", "Flight", "REST", "database", "provider synthetic"]
        assert app.flight.port is not None
        assert app.rest is not None
        assert app.rest.port is not None
        assert app.supervisor.get("synthetic").ready
        timescale = r" with TimescaleDB 2\.\d+\.\d+" if timescale_on else ""
        assert re.fullmatch(f"PostgreSQL{timescale}", app.endpoints()[3].address)
        samples = await _door_requests_after_one_call_each(app)
    finally:
        await app.stop()
    # Every door counts its requests in the one registry served at /metrics.
    assert samples[("grpc", "/timebase.v1.GatewayService/GetBars", "OK")] == 1
    assert samples[("grpc", "/timebase.v1.GatewayService/GetBars", "INVALID_ARGUMENT")] == 1
    assert samples[("flight", "LIST_FLIGHTS", "OK")] == 1
    assert samples[("rest", "/api/version", "200")] == 1


async def _door_requests_after_one_call_each(app: TimeBaseApp) -> dict[tuple[str, ...], float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        stub = bars_pb2_grpc.GatewayServiceStub(channel)
        request = bars_pb2.GetBarsRequest(symbol="SYN:ACME", interval="1d", limit=3)
        assert len([c async for c in stub.GetBars(request)]) == 1
        bad = bars_pb2.GetBarsRequest(symbol="SYN:ACME", interval="2d", limit=3)
        with pytest.raises(grpc.aio.AioRpcError):
            _ = [c async for c in stub.GetBars(bad)]

    def list_flights() -> None:
        with flight.connect(f"grpc://127.0.0.1:{app.flight.port}") as client:
            list(client.list_flights())

    await asyncio.to_thread(list_flights)
    assert app.rest is not None
    base = f"http://127.0.0.1:{app.rest.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/version") as response:
            assert response.status == 200
        async with http.get(f"{base}/metrics") as response:
            text = await response.text()
    return {
        (s.labels["door"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "timebase_requests"
        for s in family.samples
        if s.name == "timebase_requests_total"
    }


async def test_a_failed_start_stops_what_was_started(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        app = TimeBaseApp(
            Config(
                grpc_port=port,
                flight_port=0,
                http_port=0,
                data_dir=data_dir,
                providers=ProvidersConfig(enabled=()),
            )
        )
        with pytest.raises(ServerStartError) as err:
            await app.start()
    assert err.value.message == (
        f"gRPC cannot listen on 127.0.0.1:{port}: the port is in use or the address is not "
        "local; choose another with TIMEBASE_GRPC_PORT / TIMEBASE_HOST"
    )
    # The database and providers it had started are stopped again, the data directory released.
    assert app.embedded is not None
    assert not app.embedded.running
    second = TimeBaseApp(
        Config(
            grpc_port=0,
            flight_port=0,
            http_port=0,
            data_dir=data_dir,
            providers=ProvidersConfig(enabled=()),
        )
    )
    await second.start()
    await second.stop()


async def test_real_time_bars_flow_from_a_provider_through_the_gateway(
    fresh_database_url: str,
) -> None:
    settings = {"synthetic": ProviderSettings(options={"realtime_interval_seconds": 0.05})}
    app = TimeBaseApp(
        Config(
            grpc_port=0,
            flight_port=0,
            http_port=0,
            database=DatabaseConfig(url=fresh_database_url),
            providers=ProvidersConfig(
                enabled=("synthetic",), settings=settings, process_user="root"
            ),
        )
    )
    await app.start()
    try:

        async def controls() -> AsyncIterator[pb.StreamControl]:
            yield pb.StreamControl(
                action=pb.StreamControl.SUBSCRIBE, symbol="syn:acme", interval="1m"
            )
            await asyncio.sleep(30)  # keep the stream open while bars arrive

        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
            call = pb_grpc.DataProviderStub(channel).StreamRealTimeData(controls())
            bars = []
            async for message in call:
                if message.HasField("timestamp"):
                    bars.append(message)
                if len(bars) == 3:
                    break
            call.cancel()
        assert app.realtime is not None
    finally:
        await app.stop()
    assert {(b.symbol, b.interval, b.provider) for b in bars} == {("SYN:ACME", "1m", "synthetic")}
    assert all(b.metadata["final"] in {"true", "false"} for b in bars)
