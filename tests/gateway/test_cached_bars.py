"""A cached GetBars: metadata and bars served from memory at the series' versions (one database
round trip), and never older than the last committed write, on one gateway or two."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.flight.test_hot_tier import END, START, gateways, write
from tests.support.eventually import eventually
from timebase.store.hot_tier import HotTier
from timebase.store.leases import SeriesLeases
from timebase.v1 import bars_pb2 as v1

from .support import DAY, Gateway, RecordingProvider, counting_connections, running_gateway

pytestmark = pytest.mark.asyncio


def get_bars_request(**kw: Any) -> v1.GetBarsRequest:
    msg = v1.GetBarsRequest(symbol="ACME", interval="1d", **kw)
    msg.start_time.FromDatetime(START)
    msg.end_time.FromDatetime(END)
    return msg


async def get_bars(gw: Gateway, **kw: Any) -> list[tuple[Any, ...]]:
    out = []
    async for chunk in gw.v1.GetBars(get_bars_request(**kw)):
        for i, ts in enumerate(chunk.timestamps_us):
            out.append((chunk.provider, ts, chunk.open[i], chunk.close[i], chunk.volume[i]))
    return out


@contextlib.asynccontextmanager
async def hot_gateway(url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    tier = HotTier(tmp_path / "hot", max_bytes=64 << 20)
    async with running_gateway(url, RecordingProvider("alpha"), hot_tier=tier) as gw:
        yield gw


@pytest.mark.parametrize("provider", ["", "alpha"], ids=["symbol-centric", "provider-aware"])
async def test_a_cached_get_bars_needs_one_database_round_trip(
    database_url: str, tmp_path: Path, provider: str
) -> None:
    async with hot_gateway(database_url, tmp_path) as gw:
        first = await get_bars(gw, provider=provider)  # fetched and stored
        assert len(first) == 10
        second = await get_bars(gw, provider=provider)  # read back, cached at these versions
        # The pool also serves the gateway's own background work (the symbol catalogue's refresh
        # at start): the fewest connections of three cached requests is what one request needs.
        counts = []
        for _ in range(3):
            with counting_connections(gw.store) as leases:
                third = await get_bars(gw, provider=provider)
            assert third == second == first
            counts.append(len(leases))
        assert min(counts) == 1, counts  # the version lookup, nothing else
        assert gw.store.hot_tier is not None
        assert gw.store.hot_tier.stats.hits >= 1


@pytest.mark.parametrize("provider", ["", "alpha"], ids=["symbol-centric", "provider-aware"])
async def test_a_cached_get_bars_takes_no_fetch_lease(
    database_url: str, tmp_path: Path, provider: str
) -> None:
    """Nothing to fetch: the answer neither takes the series' lease nor waits while another
    gateway holds it (filling another range); a range still missing waits for it."""
    async with hot_gateway(database_url, tmp_path) as gw:
        first = await get_bars(gw, provider=provider)  # fetched and stored
        held: list[tuple[str, str]] = []
        hold = gw.store.leases.hold

        def counted(symbol: str, interval: str) -> contextlib.AbstractAsyncContextManager[None]:
            held.append((symbol, interval))
            return hold(symbol, interval)

        gw.store.leases.hold = counted  # type: ignore[method-assign,assignment]
        other = SeriesLeases(database_url)
        try:
            async with other.hold("ACME", "1d"):
                cached = await asyncio.wait_for(get_bars(gw, provider=provider), 10)
                assert cached == first
                assert held == []
                msg = get_bars_request(provider=provider)
                msg.start_time.FromDatetime(END)  # not stored: a fetch, under the lease
                msg.end_time.FromDatetime(END + 5 * DAY)
                missing = asyncio.create_task(_count(gw.v1.GetBars(msg)))
                await asyncio.sleep(0.3)
                assert not missing.done()  # waits for the other gateway's lease
            assert await missing == 5
        finally:
            await other.close()
        assert held == [("ACME", "1d")]


def stored(truth: pa.Table) -> list[tuple[int, float]]:
    """(timestamp in µs, close) of each stored bar: what a GetBars answer's rows must carry."""
    return [
        (int(ts.timestamp() * 1_000_000), close)
        for ts, close in zip(
            truth.column("timestamp").to_pylist(), truth.column("close").to_pylist(), strict=True
        )
    ]


async def _count(stream: AsyncIterator[v1.GetBarsResponse]) -> int:
    return sum([len(c.timestamps_us) async for c in stream])


@pytest.mark.parametrize("count", [1, 2], ids=["one-gateway", "two-gateways"])
@pytest.mark.parametrize("path", ["ingest", "invalidate", "refresh", "retention"])
async def test_no_stale_get_bars_after_a_write(
    database_url: str, tmp_path: Path, path: str, count: int
) -> None:
    async with gateways(database_url, tmp_path, count) as (reader, writer, _):
        gw = reader.gateway
        rendered = gw.server.rendered
        before = await get_bars(gw, provider="alpha")
        for _ in range(3):  # now cached: read, from the hot tier, then as the bytes sent before
            assert await get_bars(gw, provider="alpha") == before
        assert rendered.hits >= 1
        asked = len(gw.providers["alpha"].requests)

        await write(path, writer)

        after = await get_bars(gw, provider="alpha")
        hits = rendered.hits
        for _ in range(3):  # the repeats are the new answer's bytes, never the old ones
            assert await get_bars(gw, provider="alpha") == after
        assert rendered.hits > hits
        truth = await gw.store.read_table("ACME", "1d", START, END, provider="alpha")
        assert [(r[1], r[3]) for r in after] == stored(truth)
        if path in ("invalidate", "retention"):
            # The forgotten range was seen as missing (not served from cached coverage): the
            # reader's provider was asked for it again.
            assert len(gw.providers["alpha"].requests) > asked
            assert len(after) == 10
        else:
            assert after != before
        if path == "ingest":
            assert len(gw.providers["alpha"].requests) == asked


class GatedProvider(RecordingProvider):
    """Holds each request at `gate` (when set) before sending its bars."""

    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.gate: asyncio.Event | None = None

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        async for batch in super().get_historical_data(symbol, interval, start, end, limit):
            if self.gate is not None:  # the request is recorded: held here
                await self.gate.wait()
            yield batch


async def test_a_range_another_request_fetched_while_this_one_waited_is_not_fetched_again(
    database_url: str,
) -> None:
    """The second request's versions are looked up before it waits for the series; coverage it
    reads once it holds the series must include what the first request fetched meanwhile."""
    provider = GatedProvider("alpha")
    async with running_gateway(database_url, provider) as gw:

        async def bars(end: datetime) -> int:
            msg = v1.GetBarsRequest(symbol="ACME", interval="1d", provider="alpha")
            msg.start_time.FromDatetime(START)
            msg.end_time.FromDatetime(end)
            return sum([len(c.timestamps_us) async for c in gw.v1.GetBars(msg)])

        assert await bars(START + 4 * DAY) == 4  # fetched
        assert await bars(START + 4 * DAY) == 4  # coverage cached at this version
        asked = len(provider.requests)
        provider.gate = asyncio.Event()
        first = asyncio.create_task(bars(END))  # fetches [+4 d, +10 d), held at the gate
        await eventually(lambda: len(provider.requests) > asked, what="the first fetch")
        second = asyncio.create_task(bars(START + 8 * DAY))  # waits for the first
        await asyncio.sleep(0.3)
        provider.gate.set()
        assert await first == 10
        assert await second == 8
        assert [r[2:] for r in provider.requests[asked:]] == [(START + 4 * DAY, END)]


@contextlib.asynccontextmanager
async def first_resolution_held(gw: Gateway) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """(looked up, release): the next resolution is held once its version snapshot is opened
    (its lookup sent and answered) until `release` is set."""
    original = gw.store.snapshot
    looked_up, release = asyncio.Event(), asyncio.Event()

    @contextlib.asynccontextmanager
    async def held(symbol: str, intervals: Any) -> AsyncIterator[Any]:
        async with original(symbol, intervals) as snap:
            if not looked_up.is_set():  # the first resolution: held after its lookup
                looked_up.set()
                await release.wait()
            yield snap

    gw.store.snapshot = held  # type: ignore[method-assign]
    try:
        yield looked_up, release
    finally:
        release.set()
        gw.store.snapshot = original  # type: ignore[method-assign]


async def test_a_request_after_the_lookup_joins_the_resolution_when_nothing_was_written(
    database_url: str, tmp_path: Path
) -> None:
    """Coalescing after the version lookup: an identical request arriving once a resolution's
    lookup was sent, with nothing written since, looks the versions up itself, finds those the
    resolution read and shares its answer (one resolution for both requests)."""
    async with gateways(database_url, tmp_path, 1) as (reader, _, _):
        gw = reader.gateway
        before = await get_bars(gw, provider="alpha")  # fetched and stored
        lookups = sum(gw.history.store_lookups.values())
        async with first_resolution_held(gw) as (looked_up, release):
            first = asyncio.create_task(get_bars(gw, provider="alpha"))
            await asyncio.wait_for(looked_up.wait(), 30)
            later = asyncio.create_task(get_bars(gw, provider="alpha"))
            done, _ = await asyncio.wait({later}, timeout=1)
            assert not done  # it waits for the held resolution (its own would have answered)
            release.set()
            assert await later == await first == before
        assert sum(gw.history.store_lookups.values()) == lookups + 1


@pytest.mark.parametrize("path", ["ingest", "invalidate"])
async def test_a_request_after_a_write_does_not_join_a_resolution_that_looked_up_before_it(
    database_url: str, tmp_path: Path, path: str
) -> None:
    """Read-your-writes with coalescing: an identical request arriving once a resolution's
    version lookup was sent, after a write committed meanwhile, is not answered by that
    resolution (read at the versions before the write): it sees the write."""
    async with gateways(database_url, tmp_path, 1) as (reader, writer, _):
        gw = reader.gateway
        before = await get_bars(gw, provider="alpha")  # fetched and stored
        assert await get_bars(gw, provider="alpha") == before  # cached at these versions
        asked = len(gw.providers["alpha"].requests)
        async with first_resolution_held(gw) as (looked_up, release):
            first = asyncio.create_task(get_bars(gw, provider="alpha"))
            await asyncio.wait_for(looked_up.wait(), 30)
            await write(path, writer)  # committed after the first resolution's lookup
            later = asyncio.create_task(get_bars(gw, provider="alpha"))
            # Its own resolution answers it while the first one is still held (a request
            # that joined the first would wait for it: the timeout, then stale bars).
            await asyncio.wait({later}, timeout=10)
            release.set()
            after = await later
            await first
        truth = await gw.store.read_table("ACME", "1d", START, END, provider="alpha")
        assert [(r[1], r[3]) for r in after] == stored(truth)
        if path == "ingest":
            assert after != before  # the closes DoPut changed
            assert len(gw.providers["alpha"].requests) == asked
        else:  # the forgotten range was seen as missing and fetched again
            assert len(gw.providers["alpha"].requests) == asked + 1
            assert len(after) == 10
