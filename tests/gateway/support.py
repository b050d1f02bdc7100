"""Test providers built with the SDK that record what they are asked, and a gateway harness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyarrow as pa

from timebase.core.config import RoutingConfig
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import StaticProvider, StaticProviders
from timebase.gateway.query import QueryApi
from timebase.grpc.server import GrpcServer
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Provider, ProviderServer, parse_manifest
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import Interval
from timebase.store import Store
from timebase.store.hot_tier import HotTier
from timebase.v1 import bars_pb2_grpc as v1_grpc

DAY = timedelta(days=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def manifest(slug: str, intervals: list[str], **extra: Any) -> Any:
    data = {
        "name": slug.title(),
        "version": "1.0.0",
        "slug": slug,
        "intervals": intervals,
        "capabilities": {"historical_data": True},
        **extra,
    }
    return parse_manifest(data, f"<{slug}>")


def bar_values(base: float, ts_us: int) -> tuple[float, float, float, float, float]:
    k = (ts_us // 3_600_000_000) % 97
    close = base + k
    open_ = close - 0.5
    return open_, close + 1.0, open_ - 1.0, close, 1000.0 + k


class RecordingProvider(Provider):
    """Bars on the UTC grid of every interval, prices offset by `base`; records each request.

    Tests steer it: `fail` raises before any bar, `fail_after` raises `fail` after that many bars
    (a provider dying mid-stream), `hang_after` stops after that many bars until cancelled.
    """

    def __init__(
        self,
        slug: str,
        intervals: list[str] | None = None,
        base: float = 100.0,
        **manifest_extra: Any,
    ) -> None:
        super().__init__(manifest(slug, intervals or ["1h", "1d"], **manifest_extra))
        self.base = base
        self.requests: list[tuple[str, str, datetime, datetime]] = []
        self.fail: TimeBaseError | None = None
        self.fail_after: int | None = None
        self.hang_after: int | None = None
        self.started_streaming = asyncio.Event()

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        self.requests.append((symbol, interval, start, end))
        if self.fail is not None and self.fail_after is None:
            raise self.fail
        step = int(Interval(interval).nominal.total_seconds() * 1_000_000)
        first = -(-_us(start) // step) * step
        stamps = list(range(first, _us(end), step))
        cut = self.fail_after if self.fail_after is not None else self.hang_after
        head, tail = (stamps[:cut], stamps[cut:]) if cut is not None else (stamps, [])
        if head:
            yield self._batch(head)
        self.started_streaming.set()
        if self.fail is not None and self.fail_after is not None:
            raise self.fail
        if self.hang_after is not None:
            await asyncio.Event().wait()
        if tail:
            yield self._batch(tail)

    def _batch(self, stamps: list[int]) -> pa.RecordBatch:
        rows = [bar_values(self.base, ts) for ts in stamps]
        return pa.RecordBatch.from_pydict(
            {
                "timestamp": pa.array(stamps, pa.int64()),
                "open": [r[0] for r in rows],
                "high": [r[1] for r in rows],
                "low": [r[2] for r in rows],
                "close": [r[3] for r in rows],
                "volume": [r[4] for r in rows],
            }
        )


def _us(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000 + ts.microsecond


@dataclass
class Gateway:
    store: Store
    history: HistoricalBars
    server: GrpcServer
    channel: grpc.aio.Channel
    source: StaticProviders
    servers: dict[str, ProviderServer] = field(default_factory=dict)
    providers: dict[str, RecordingProvider] = field(default_factory=dict)

    @property
    def data(self) -> Any:  # the aio stub (grpc-stubs types it as the sync one)
        return pb_grpc.DataProviderStub(self.channel)

    @property
    def v1(self) -> Any:
        return v1_grpc.GatewayServiceStub(self.channel)


@contextlib.asynccontextmanager
async def running_gateway(
    database_url: str,
    *providers: RecordingProvider,
    routing: RoutingConfig | None = None,
    db_probe_interval: float = 5.0,
    hot_tier: HotTier | None = None,
    **history_options: Any,
) -> AsyncIterator[Gateway]:
    """`history_options` go to HistoricalBars (e.g. `clock=` and `monotonic=` to control time);
    `hot_tier` to the Store."""
    async with contextlib.AsyncExitStack() as stack:
        store = Store(database_url, pool_size=4, run_retention=False, hot_tier=hot_tier)
        await store.start()
        stack.push_async_callback(store.stop)
        source = StaticProviders()
        servers: dict[str, ProviderServer] = {}
        for provider in providers:
            server = ProviderServer(provider)
            await server.start()
            stack.push_async_callback(server.stop, 0.1, 1.0)
            servers[provider.slug] = server
            source.set(StaticProvider(provider.slug, server.target, provider.manifest))
        history = HistoricalBars(
            store,
            source,
            routing or RoutingConfig(backoff_seconds=0.01, retries=1),
            **history_options,
        )
        await history.start()
        stack.push_async_callback(history.stop)
        grpc_server = GrpcServer("127.0.0.1", 0, db_probe_interval=db_probe_interval)
        grpc_server.attach(QueryApi(history))
        await grpc_server.start()
        stack.push_async_callback(grpc_server.stop, 0.1)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}")
        stack.push_async_callback(channel.close, None)
        yield Gateway(
            store,
            history,
            grpc_server,
            channel,
            source,
            servers,
            {p.slug: p for p in providers},
        )


def request(
    symbol: str, interval: str, start: datetime | None, end: datetime | None, **kw: Any
) -> pb.HistoricalDataRequest:
    msg = pb.HistoricalDataRequest(symbol=symbol, interval=interval, **kw)
    if start is not None:
        msg.start_time.FromDatetime(start)
    if end is not None:
        msg.end_time.FromDatetime(end)
    return msg


@contextlib.contextmanager
def counting_connections(store: Store) -> Iterator[list[int]]:
    """Count the database connections `store` leases (every database call leases one, or uses
    the version reader's connection)."""
    leases: list[int] = []
    original: Callable[[], Any] = store.pool.connection

    def connection() -> Any:
        leases.append(1)
        return original()

    # The version lookup runs on the version reader's own connection first: one call too.
    reader = store.cached.version_reader
    original_read: Callable[..., Any] = reader.read

    async def read(*args: Any) -> Any:
        found = await original_read(*args)
        if found is not None:
            leases.append(1)
        return found

    store.pool.connection = connection  # type: ignore[method-assign]
    reader.read = read  # type: ignore[method-assign,assignment]
    try:
        yield leases
    finally:
        store.pool.connection = original  # type: ignore[method-assign]
        reader.read = original_read  # type: ignore[method-assign]
