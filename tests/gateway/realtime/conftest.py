"""Real gRPC servers for the real-time hub: scripted SDK providers and the hub behind a servicer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from timebase.gateway.realtime import RealtimeHub, UpstreamTarget, is_warning, warnings_of
from timebase.grpc.realtime import stream_realtime
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Bar, Provider, ProviderServer, RealTimeBar, Subscriptions, parse_manifest
from timebase.sdk.backoff import Backoff
from timebase.store import Store

T0 = datetime(2024, 3, 4, 14, 0, tzinfo=UTC)
Key = tuple[str, str]


def manifest(slug: str, symbols: Sequence[str] = ("SYN:[A-Z0-9]+",)) -> Any:
    return parse_manifest(
        {
            "name": slug.title(),
            "version": "1.0",
            "slug": slug,
            "capabilities": {"historical_data": False, "real_time_streaming": True},
            "intervals": ["1m", "5m", "1h", "1d"],
            "symbols": list(symbols),
        }
    )


class ScriptedProvider(Provider):
    """A real-time provider the test drives: `emit` sends a bar to every stream subscribed to it.

    It records what the SDK hands it: the live streams and their subscriptions over time.
    """

    def __init__(self, slug: str, symbols: Sequence[str] = ("SYN:[A-Z0-9]+",)) -> None:
        super().__init__(manifest(slug, symbols))
        self.streams: list[tuple[Subscriptions, asyncio.Queue[RealTimeBar]]] = []
        self.streams_opened = 0
        #: Every SUBSCRIBE seen, per key (in the order the changes were observed).
        self.subscribe_events: list[Key] = []

    def subscribed(self) -> list[Key]:
        """Active keys over every live stream (a key twice means two upstream subscriptions)."""
        return sorted((s.symbol, s.interval) for subs, _ in self.streams for s in subs.active)

    @property
    def live_streams(self) -> int:
        return len(self.streams)

    async def stream_real_time(self, subscriptions: Subscriptions) -> AsyncIterator[RealTimeBar]:
        queue: asyncio.Queue[RealTimeBar] = asyncio.Queue()
        entry = (subscriptions, queue)
        self.streams.append(entry)
        self.streams_opened += 1
        watcher = asyncio.create_task(self._watch(subscriptions))
        try:
            while True:
                yield await queue.get()
        finally:
            watcher.cancel()
            self.streams.remove(entry)

    async def _watch(self, subs: Subscriptions) -> None:
        seen: set[Key] = set()
        while True:
            now = {(s.symbol, s.interval) for s in subs.active}
            self.subscribe_events.extend(sorted(now - seen))
            seen = now
            await subs.changed()

    def emit(
        self,
        symbol: str,
        interval: str,
        i: int,
        *,
        final: bool | None = True,
        pad: int = 0,
        step: timedelta = timedelta(minutes=1),
    ) -> None:
        """Bar number `i` (ts = T0 + i·step) of (symbol, interval); final=None: unmarked."""
        meta: dict[str, Any] = {}
        if final is not None:
            meta["final"] = "true" if final else "false"
        if pad:
            meta["pad"] = "x" * pad
        price = 100.0 + i
        bar = Bar(T0 + i * step, price, price + 1, price - 1, price + 0.5, 10.0 + i, meta)
        for subs, queue in self.streams:
            if (symbol, interval) in subs:
                queue.put_nowait(RealTimeBar(symbol, interval, bar))


@asynccontextmanager
async def provider_server(
    slug: str, symbols: Sequence[str] = ("SYN:[A-Z0-9]+",)
) -> AsyncIterator[tuple[ScriptedProvider, ProviderServer]]:
    provider = ScriptedProvider(slug, symbols)
    server = ProviderServer(provider, port=0)
    await server.start()
    try:
        yield provider, server
    finally:
        await server.stop(grace=0.2)


class _Servicer(pb_grpc.DataProviderServicer):
    """What the gateway's DataProvider servicer does for real-time: delegate to the hub."""

    def __init__(self, hub: RealtimeHub) -> None:
        self.hub = hub

    async def StreamRealTimeData(
        self,
        request_iterator: AsyncIterator[pb.StreamControl],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.TimeSeriesData]:
        async for msg in stream_realtime(self.hub, request_iterator, context):
            yield msg


class Gateway:
    def __init__(self, hub: RealtimeHub, channel: grpc.aio.Channel) -> None:
        self.hub = hub
        self.channel = channel
        self.stub = pb_grpc.DataProviderStub(channel)

    def client(self, *, reading: bool = True) -> Client:
        return Client(self.stub, reading=reading)


@asynccontextmanager
async def serve_hub(
    store: Any,
    candidates: Callable[[str, str], Sequence[UpstreamTarget]],
    **options: Any,
) -> AsyncIterator[Gateway]:
    options.setdefault("backoff", Backoff(initial=0.2, maximum=1.0))
    options.setdefault("flush_interval", 0.05)
    hub = RealtimeHub(store, candidates, **options)
    await hub.start()
    server = grpc.aio.server()
    pb_grpc.add_DataProviderServicer_to_server(
        _Servicer(hub),  # type: ignore[abstract]  # only real-time is served here
        server,
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Gateway(hub, channel)
    finally:
        await channel.close(None)
        await server.stop(0.5)
        await hub.stop()


class Client:
    """One `StreamRealTimeData` call to the gateway, driven with write/read."""

    def __init__(self, stub: pb_grpc.DataProviderAsyncStub, *, reading: bool = True) -> None:
        self.call: Any = stub.StreamRealTimeData()  # type: ignore[call-arg]
        # Reads run in one task: cancelling a pending read would cancel the whole call.
        self._inbox: asyncio.Queue[pb.TimeSeriesData | BaseException] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        if reading:
            self.start_reading()

    def start_reading(self) -> None:
        """Read the stream from now on (a client created with reading=False reads nothing)."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await self.call.read()
                if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
                    self._inbox.put_nowait(EOFError("the stream ended"))
                    return
                self._inbox.put_nowait(msg)
        except grpc.aio.AioRpcError as exc:
            self._inbox.put_nowait(exc)

    async def send(
        self, action: pb.StreamControl.Action, symbol: str = "", interval: str = "", **options: str
    ) -> None:
        await self.call.write(
            pb.StreamControl(action=action, symbol=symbol, interval=interval, options=options)
        )

    async def subscribe(self, symbol: str, interval: str = "1m") -> None:
        await self.send(pb.StreamControl.SUBSCRIBE, symbol, interval)

    async def unsubscribe(self, symbol: str, interval: str = "1m") -> None:
        await self.send(pb.StreamControl.UNSUBSCRIBE, symbol, interval)

    async def next(self, wait: float = 5.0) -> pb.TimeSeriesData:
        item = await asyncio.wait_for(self._inbox.get(), wait)
        if isinstance(item, BaseException):
            raise item
        return item

    async def bars(self, n: int, wait: float = 5.0) -> list[pb.TimeSeriesData]:
        """The next `n` bars (warnings are skipped)."""
        out: list[pb.TimeSeriesData] = []
        while len(out) < n:
            msg = await self.next(wait)
            if not is_warning(msg):
                out.append(msg)
        return out

    async def warning(self, wait: float = 5.0) -> dict[str, Any]:
        """Skip bars until a warning arrives; return its (single) entry."""
        while True:
            msg = await self.next(wait)
            found = warnings_of(msg)
            if found:
                assert len(found) == 1
                return {**found[0], "_symbol": msg.symbol, "_interval": msg.interval}

    async def nothing_for(self, seconds: float) -> None:
        try:
            msg = await asyncio.wait_for(self._inbox.get(), seconds)
        except TimeoutError:
            return
        pytest.fail(f"unexpected message {msg}")

    def cancel(self) -> None:
        self.call.cancel()
        if self._reader is not None:
            self._reader.cancel()


def target(server: ProviderServer) -> UpstreamTarget:
    return UpstreamTarget(server.provider.slug, server.target)


class NullSink:
    """A store stand-in for tests that are not about persistence."""

    def __init__(self) -> None:
        self.tables: list[Any] = []

    async def write_provider_batch(self, table: Any) -> None:
        self.tables.append(table)


@pytest.fixture
async def store(fresh_database_url: str) -> AsyncIterator[Store]:
    async with Store(fresh_database_url, pool_size=2, run_retention=False) as s:
        yield s
