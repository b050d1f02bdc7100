"""Limits before work on REST (issue 12): dates, sizes, limit=N windows, earliest data, busy
fetches and disconnects; each probe with its status and message, against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pyarrow as pa

from tests.gateway.support import RecordingProvider
from tests.rest.conftest import NO_LIMIT, running_rest
from tests.support.eventually import eventually
from timebase.core.config import GatewayLimits, RestConfig
from timebase.gateway.providers import StaticProvider
from timebase.sdk.intervals import Interval

ARROW = "application/vnd.apache.arrow.stream"
OUT_OF_RANGE = "is out of range; dates from 1900-01-01 to 2200-01-01 (UTC) are accepted"


def day(d: int, month: int = 1, year: int = 2024) -> datetime:
    return datetime(year, month, d, tzinfo=UTC)


class WeekdayProvider(RecordingProvider):
    """Daily bars on weekdays only (a market that closes), recording each request."""

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        async for batch in super().get_historical_data(symbol, interval, start, end, limit):
            ts = batch.column(0).to_numpy()
            weekday = ((ts // 86_400_000_000) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
            yield batch.filter(pa.array(weekday < 5))


class CancelRecordingProvider(RecordingProvider):
    """Hangs after `hang_after` bars; records that the gateway cancelled the call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancelled = asyncio.Event()

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        try:
            async for batch in super().get_historical_data(symbol, interval, start, end, limit):
                yield batch
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.set()
            raise


def ranges(provider: RecordingProvider) -> list[tuple[datetime, datetime]]:
    return [(start, end) for _, _, start, end in provider.requests]


# -- dates -----------------------------------------------------------------------------------


async def test_an_end_in_9999_is_a_400_naming_it(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, _ = await rest.get(
            "/api/data/SYN:ACME?interval=1d&start=2024-01-01&end=9999-12-31"
        )
        assert status == 400
        assert body["error"]["code"] == "INVALID_TIME_RANGE"
        assert body["error"]["message"] == f"end: 9999-12-31 {OUT_OF_RANGE}"
        assert body["error"]["details"]["field"] == "end"
        status, body, _ = await rest.get(
            "/api/data/SYN:ACME?interval=1d&start=2024-01-01&end=9999-12-31T23:59:59-05:00"
        )
        assert status == 400
        assert body["error"]["message"] == f"end: 9999-12-31T23:59:59-05:00 {OUT_OF_RANGE}"
        assert alpha.requests == []


async def test_a_start_in_year_1_is_a_400_and_nothing_is_fetched(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, _ = await rest.get("/api/data/SYN:ACME?interval=1d&start=0001-01-01")
        assert status == 400
        assert body["error"]["code"] == "INVALID_TIME_RANGE"
        assert body["error"]["message"] == f"start: 0001-01-01 {OUT_OF_RANGE}"
        assert alpha.requests == []
        assert await rest.gw.store.datasets() == []


async def test_limit_400000_daily_is_a_400_on_json_and_an_answer_from_1900_on_arrow(
    fresh_database_url,
):
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_rest(fresh_database_url, alpha) as rest:
        query = "/api/data/SYN:ACME?interval=1d&end=2024-01-01&limit=400000"
        status, body, _ = await rest.get(query)
        assert status == 400
        assert body["error"]["code"] == "INVALID_REQUEST"
        assert body["error"]["message"] == (
            "limit: 400,000 bars, more than the 100,000 a JSON or CSV response may hold "
            "(rest.max_bars_text): ask for fewer, or ask for Arrow "
            "(Accept: application/vnd.apache.arrow.stream) or use Arrow Flight"
        )
        assert alpha.requests == []
        status, body, _ = await rest.get(query, headers={"Accept": ARROW})
        assert status == 200
        table = pa.ipc.open_stream(body).read_all()
        # Every day from 1900-01-01 (the default earliest daily data) through 2024-01-01.
        assert table.num_rows == (day(2) - day(1, year=1900)).days
        assert table.column("timestamp")[0].as_py() == day(1, year=1900)
        assert ranges(alpha) == [(day(1, year=1900), day(2))]


# -- sizes -----------------------------------------------------------------------------------


async def test_a_year_of_1m_bars_on_json_is_refused_before_any_fetch(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1m"])
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, _ = await rest.get(
            "/api/data/SYN:ACME?interval=1m&start=2024-01-01&end=2024-12-31"
        )
        assert status == 400
        assert body["error"]["message"] == (
            "end: [2024-01-01T00:00:00+00:00, 2025-01-01T00:00:00+00:00) holds up to 527,040 1m "
            "bars, more than the 100,000 a JSON or CSV response may hold (rest.max_bars_text): "
            "ask for a shorter range or a coarser interval, or set limit, or ask for Arrow "
            "(Accept: application/vnd.apache.arrow.stream) or use Arrow Flight"
        )
        assert body["error"]["details"]["estimate"] == 527_040
        assert alpha.requests == []
        assert await rest.gw.store.datasets() == []


async def test_the_rest_limits_are_configurable(fresh_database_url):
    alpha = RecordingProvider("alpha")
    config = RestConfig(rate_limit_enabled=False, max_bars_text=24, max_bars_arrow=48)
    async with running_rest(fresh_database_url, alpha, config=config) as rest:
        base = "/api/data/SYN:ACME?interval=1h&start=2024-01-01"
        status, body, _ = await rest.get(f"{base}&end=2024-01-01T23:59:59Z")
        assert (status, body["data"]["count"]) == (200, 24)
        status, body, _ = await rest.get(f"{base}&end=2024-01-02", headers={"Accept": "text/csv"})
        assert status == 400
        assert (
            "more than the 24 a JSON or CSV response may hold (rest.max_bars_text)"
            in (body["error"]["message"])
        )
        status, body, _ = await rest.get(f"{base}&end=2024-01-02", headers={"Accept": ARROW})
        assert status == 200
        status, body, _ = await rest.get(f"{base}&end=2024-01-03", headers={"Accept": ARROW})
        assert status == 400
        assert body["error"]["message"].endswith(
            "more than the 48 an Arrow response may hold (rest.max_bars_arrow): ask for a "
            "shorter range or a coarser interval, or set limit, or use Arrow Flight"
        )


# -- limit=N ---------------------------------------------------------------------------------


async def test_limit_asks_for_n_intervals_first(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, _ = await rest.get("/api/data/SYN:ACME?interval=1d&end=2024-01-10&limit=5")
        assert (status, body["data"]["count"]) == (200, 5)
        assert body["data"]["data"][0]["timestamp"] == "2024-01-06T00:00:00Z"
        assert ranges(alpha) == [(day(6), day(11))]  # 5 days, not 10


async def test_limit_widens_by_doubling_only_while_bars_are_missing(fresh_database_url):
    alpha = WeekdayProvider("alpha", intervals=["1d"])
    async with running_rest(fresh_database_url, alpha) as rest:
        # Through Sunday 2024-01-14: 5 days back hold Wed-Fri only, so the window doubles once.
        status, body, _ = await rest.get("/api/data/SYN:ACME?interval=1d&end=2024-01-14&limit=5")
        assert (status, body["data"]["count"]) == (200, 5)
        stamps = [bar["timestamp"][:10] for bar in body["data"]["data"]]
        assert stamps == ["2024-01-08", "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12"]
        # The second request asks only for the part not stored yet.
        assert ranges(alpha) == [(day(10), day(15)), (day(5), day(10))]


async def test_limit_never_reaches_before_the_providers_earliest_data(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1d"], earliest="2024-01-08")
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, _ = await rest.get("/api/data/SYN:ACME?interval=1d&end=2024-01-14&limit=10")
        assert (status, body["data"]["count"]) == (200, 7)
        assert ranges(alpha) == [(day(8), day(15))]
        # A range wholly before the earliest data, with a limit: the same 404 as without one
        # (once a 400 naming a window that started after its end, found by the fuzzer).
        status, body, _ = await rest.get(
            "/api/data/SYN:ACME?interval=1d&start=2024-01-01&end=2024-01-05&limit=3"
        )
        assert (status, body["error"]["code"]) == (404, "DATA_UNAVAILABLE")
        assert len(alpha.requests) == 1


# -- earliest data -----------------------------------------------------------------------------


async def test_earlier_parts_are_not_asked_for_nor_recorded_as_fetched(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1d"], earliest="2024-01-08")
    async with running_rest(fresh_database_url, alpha) as rest:
        query = "/api/data/SYN:ACME?interval=1d&start=2024-01-01&end=2024-01-14"
        status, body, _ = await rest.get(query)
        assert (status, body["data"]["count"]) == (200, 7)
        assert body["data"]["warnings"] == []
        assert ranges(alpha) == [(day(8), day(15))]
        store = rest.gw.store
        covered = await store.covered("SYN:ACME", Interval.D1, "alpha", day(1), day(15))
        assert [(r.start, r.end) for r in covered] == [(day(8), day(15))]
        # Entirely before the earliest data: nothing exists, nothing is asked.
        status, body, _ = await rest.get(
            "/api/data/SYN:ACME?interval=1d&start=2024-01-01&end=2024-01-05"
        )
        assert (status, body["error"]["code"]) == (404, "DATA_UNAVAILABLE")
        assert len(alpha.requests) == 1
        # A manifest that now declares earlier data gets asked for exactly that part.
        earlier = RecordingProvider("alpha", intervals=["1d"], earliest="2024-01-03").manifest
        server = rest.gw.servers["alpha"]
        rest.gw.source.set(StaticProvider("alpha", server.target, earlier))
        status, body, _ = await rest.get(query)
        assert (status, body["data"]["count"]) == (200, 12)
        assert ranges(alpha)[1:] == [(day(3), day(8))]


# -- busy, disconnected --------------------------------------------------------------------------


async def test_fetches_over_the_bound_queue_then_get_503_with_retry_after(fresh_database_url):
    alpha = CancelRecordingProvider("alpha", intervals=["1d"])
    alpha.hang_after = 0
    limits = GatewayLimits(max_fetches=1, max_fetches_per_client=1, fetch_queue_timeout_seconds=0.3)
    async with running_rest(fresh_database_url, alpha, limits=limits) as rest:
        first = asyncio.create_task(rest.get("/api/data/SYN:ONE?interval=1d&start=2024-01-01"))
        await asyncio.wait_for(alpha.started_streaming.wait(), 10)
        status, body, resp = await rest.get("/api/data/SYN:TWO?interval=1d&start=2024-01-01")
        assert status == 503
        assert body["error"]["code"] == "SERVER_BUSY"
        assert body["error"]["message"] == (
            "too many provider fetches: at most 1 at once per client "
            "(gateway.max_fetches_per_client), and none became free within 0.3 s; "
            "try again later"
        )
        assert resp.headers["Retry-After"] == "1"
        first.cancel()
        await asyncio.wait_for(alpha.cancelled.wait(), 10)


async def test_a_disconnected_client_stops_its_fetch_keeps_what_came_and_frees_everything(
    fresh_database_url,
):
    alpha = CancelRecordingProvider("alpha", intervals=["1h"])
    alpha.hang_after = 5
    async with running_rest(fresh_database_url, alpha, config=NO_LIMIT) as rest:
        url = rest.url("/api/data/SYN:ACME?interval=1h&start=2024-01-01&end=2024-01-03")
        fetcher = rest.gw.history.fetcher

        async def fetch() -> None:
            async with aiohttp.ClientSession() as client, client.get(url) as resp:
                await resp.read()

        request = asyncio.create_task(fetch())
        await eventually(lambda: fetcher.bars_received == 5, what="the first 5 bars")
        request.cancel()  # the client goes away mid-fetch
        await asyncio.wait_for(alpha.cancelled.wait(), 10)
        store = rest.gw.store
        await eventually(lambda: store.pool.in_use == 0, what="the connections back in the pool")
        await eventually(lambda: fetcher.limiter.running == 0, what="the fetch slot back")
        table = await store.read_table("SYN:ACME", Interval.H1, day(1), day(3))
        assert table.num_rows == 5  # the bars already fetched are stored
