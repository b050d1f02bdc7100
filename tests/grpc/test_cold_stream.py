"""A cold gRPC stream sends the fetched bars while they are stored: the data first, the store's
outcome in the trailing metadata; the series stays held until the store finished, so nothing is
fetched twice meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from adbc_driver_postgresql import dbapi

from tests.gateway.support import T0, Gateway, RecordingProvider, running_gateway
from tests.gateway.test_cold_fetch import _refuse_daily_bars
from tests.gateway.test_historical import warnings_of
from tests.support.eventually import eventually
from timebase.gateway.bar_request import build_request
from timebase.provider import provider_pb2 as pb
from timebase.v1 import bars_pb2 as v1

pytestmark = pytest.mark.asyncio

START, END = T0, T0 + timedelta(days=40)


def get_bars(start: Any = START, end: Any = END, provider: str = "") -> v1.GetBarsRequest:
    msg = v1.GetBarsRequest(symbol="ACME", interval="1d", provider=provider)
    msg.start_time.FromDatetime(start)
    msg.end_time.FromDatetime(end)
    return msg


@contextlib.asynccontextmanager
async def blocked_daily_writes(url: str) -> AsyncIterator[None]:
    """Writes of daily bars wait (another session holds a SHARE lock on their table) until the
    block ends; reads go on."""
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        with dbapi.connect(url) as conn, conn.cursor() as cur:
            cur.execute("LOCK TABLE bars_daily IN SHARE MODE")
            locked.set()
            done.wait(60)
            conn.rollback()

    holder = asyncio.create_task(asyncio.to_thread(hold))
    await asyncio.to_thread(locked.wait, 30)
    try:
        yield
    finally:
        done.set()
        await holder


async def stored_rows(gw: Gateway) -> int:
    return sum(d.rows for d in await gw.store.datasets("ACME"))


@pytest.mark.parametrize("provider", ["", "alpha"], ids=["symbol-centric", "provider-aware"])
async def test_the_data_arrives_before_the_store_finishes(
    fresh_database_url: str, provider: str
) -> None:
    async with running_gateway(fresh_database_url, RecordingProvider("alpha")) as gw:
        async with blocked_daily_writes(fresh_database_url):
            call = gw.v1.GetBars(get_bars(provider=provider))
            first = await asyncio.wait_for(call.read(), 30)  # while the store waits
            assert len(first.timestamps_us) == 40
            assert await stored_rows(gw) == 0
            assert await gw.store.covered("ACME", "1d", "alpha", START, END) == []
            # A request of the series meanwhile waits for it (held until stored): not fetched
            # twice.
            fetched = gw.history.upstream_requests
            inner = build_request(
                symbol="ACME",
                interval="1d",
                start=START + timedelta(days=5),
                end=END,
                provider=provider,
            )
            waiting = asyncio.create_task(gw.history.get(inner))
            await asyncio.sleep(0.3)
            assert not waiting.done()
        assert await call.read() is grpc.aio.EOF  # type: ignore[attr-defined]
        assert warnings_of(await call.trailing_metadata()) == []
        assert await stored_rows(gw) == 40
        assert (await waiting).table.num_rows == 35
        assert gw.history.upstream_requests == fetched
        # The streamed answer is the warm read.
        warm = [chunk async for chunk in gw.v1.GetBars(get_bars(provider=provider))]
        assert [list(c.timestamps_us) for c in warm] == [list(first.timestamps_us)]
        assert [list(c.close) for c in warm] == [list(first.close)]
        assert gw.history.upstream_requests == fetched


@pytest.mark.parametrize("rpc", ["GetBars", "GetHistoricalBars"])
async def test_a_store_that_fails_is_reported_after_the_data(
    fresh_database_url: str, rpc: str
) -> None:
    async with running_gateway(fresh_database_url, RecordingProvider("alpha")) as gw:
        await asyncio.to_thread(_refuse_daily_bars, fresh_database_url, True)
        if rpc == "GetBars":
            call = gw.v1.GetBars(get_bars())
        else:
            msg = pb.HistoricalDataRequest(symbol="ACME", interval="1d")
            msg.start_time.FromDatetime(START)
            msg.end_time.FromDatetime(END)
            call = gw.data.GetHistoricalBars(msg)
        chunks = [chunk async for chunk in call]
        assert sum(len(c.timestamps_us) for c in chunks) == 40
        (warning,) = warnings_of(await call.trailing_metadata())
        assert warning["code"] == "STORE_FAILED"
        assert warning["message"].startswith(
            "the bars fetched for ACME 1d could not be stored (writing fetched bars: "
        )
        assert "no daily bars today" in warning["message"]
        assert warning["message"].endswith(
            "they are in this answer and will be fetched again next time"
        )
        assert await gw.store.covered("ACME", "1d", "alpha", START, END) == []
        assert await stored_rows(gw) == 0


class GatedProvider(RecordingProvider):
    """A RecordingProvider whose fetches wait for `gate` (so a fill stays under way)."""

    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.gate = asyncio.Event()

    async def get_historical_data(
        self, symbol: str, interval: str, start: Any, end: Any, limit: int | None
    ) -> AsyncIterator[Any]:
        await self.gate.wait()
        async for batch in super().get_historical_data(symbol, interval, start, end, limit):
            yield batch


async def waiting(gw: Gateway, requests: int, resolutions: int) -> None:
    """Wait until `requests` requests wait for `resolutions` resolutions in flight."""
    await eventually(
        lambda: (
            sum(gw.history._waiters.values()) == requests
            and len(gw.history._waiters) == resolutions
        ),
        30,
        what=f"{requests} requests waiting for {resolutions} resolutions",
    )


@contextlib.contextmanager
def held_lookups(gw: Gateway) -> Iterator[asyncio.Event]:
    """Resolutions wait before their version lookup (so identical requests may still join
    them) until the event is set."""
    original = gw.store.snapshot
    release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def held(symbol: str, intervals: Any) -> AsyncIterator[Any]:
        await release.wait()
        async with original(symbol, intervals) as snap:
            yield snap

    gw.store.snapshot = held  # type: ignore[method-assign]
    try:
        yield release
    finally:
        release.set()
        gw.store.snapshot = original  # type: ignore[method-assign]


async def all_bars_then_store_failed(calls: list[Any]) -> None:
    """Each call streams the 40 bars, then ends with the one STORE_FAILED warning."""
    for call in calls:
        chunks = [chunk async for chunk in call]
        assert sum(len(c.timestamps_us) for c in chunks) == 40
        (warning,) = warnings_of(await call.trailing_metadata())
        assert warning["code"] == "STORE_FAILED"
        assert "no daily bars today" in warning["message"]


@pytest.mark.parametrize("written", [False, True], ids=["nothing-written", "written-meanwhile"])
async def test_every_stream_during_a_failed_fill_gets_store_failed(
    fresh_database_url: str, written: bool
) -> None:
    """A stream arriving while a fill is under way (its versions looked up) looks the versions
    up itself. Nothing written since: it joins the fill and shares its STORE_FAILED (one fetch).
    A write committed meanwhile: its own resolution waits for the series, finds nothing stored
    (the store failed), fetches again and reports its own store's failure."""
    provider = GatedProvider("alpha")
    async with running_gateway(fresh_database_url, provider) as gw:
        await asyncio.to_thread(_refuse_daily_bars, fresh_database_url, True)
        calls = [gw.v1.GetBars(get_bars())]
        await waiting(gw, 1, 1)
        unchecked = gw.history._joinable.unchecked
        await eventually(lambda: not unchecked, 30, what="the first lookup sent")
        if written:  # bumps the series' version: the first resolution's versions are old
            await gw.store.invalidate("ACME", "1d", "alpha", START, END)
        calls.append(gw.v1.GetBars(get_bars()))
        resolutions = 2 if written else 1
        await waiting(gw, 2, resolutions)
        provider.gate.set()
        await all_bars_then_store_failed(calls)
        assert len(provider.requests) == resolutions  # one fetch each: nothing stored between
        assert await stored_rows(gw) == 0


async def test_every_stream_coalesced_onto_a_failed_fill_gets_store_failed(
    fresh_database_url: str,
) -> None:
    provider = GatedProvider("alpha")
    async with running_gateway(fresh_database_url, provider) as gw:
        await asyncio.to_thread(_refuse_daily_bars, fresh_database_url, True)
        with held_lookups(gw) as release:
            calls = [gw.v1.GetBars(get_bars()), gw.v1.GetBars(get_bars())]
            await waiting(gw, 2, 1)  # joined before the lookup was sent
            release.set()
        provider.gate.set()
        await all_bars_then_store_failed(calls)
        assert len(provider.requests) == 1
        assert await stored_rows(gw) == 0


async def test_a_request_coalesced_onto_a_stream_waits_for_its_store_and_warns(
    fresh_database_url: str,
) -> None:
    provider = GatedProvider("alpha")
    async with running_gateway(fresh_database_url, provider) as gw:
        await asyncio.to_thread(_refuse_daily_bars, fresh_database_url, True)
        with held_lookups(gw) as release:
            call = gw.v1.GetBars(get_bars())
            await waiting(gw, 1, 1)
            same = build_request(symbol="ACME", interval="1d", start=START, end=END)
            inner = asyncio.create_task(gw.history.get(same))  # a door that does not report later
            await waiting(gw, 2, 1)  # joined before the lookup was sent
            release.set()
        provider.gate.set()
        chunks = [chunk async for chunk in call]
        assert sum(len(c.timestamps_us) for c in chunks) == 40
        assert [w["code"] for w in warnings_of(await call.trailing_metadata())] == ["STORE_FAILED"]
        answer = await inner
        assert answer.table.num_rows == 40
        assert [w.code.value for w in answer.warnings] == ["STORE_FAILED"]
        assert (
            answer.warnings[0].message == warnings_of(await call.trailing_metadata())[0]["message"]
        )
        assert len(provider.requests) == 1


async def test_stop_waits_for_the_stores_a_stream_left_running(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url, RecordingProvider("alpha")) as gw:
        async with blocked_daily_writes(fresh_database_url):
            call = gw.v1.GetBars(get_bars())
            first = await asyncio.wait_for(call.read(), 30)  # while the store waits
            assert len(first.timestamps_us) == 40
            stopping = asyncio.create_task(gw.history.stop())
            await asyncio.sleep(0.3)
            assert not stopping.done()  # the series is held until its store finished
        await asyncio.wait_for(stopping, 30)
        assert gw.history._releases == set()
        assert await stored_rows(gw) == 40
        assert await call.read() is grpc.aio.EOF  # type: ignore[attr-defined]
        assert warnings_of(await call.trailing_metadata()) == []
