"""Watchlists in the background (`timebase.gateway.watchlists`) in front of the bundled synthetic
provider on a real database: the backfill stores the bars, a later run picks up new ones, quotas
are never exceeded, and the status shows progress on every door (REST, gRPC, the CLI, /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import aiohttp
import grpc
import pytest

from tests.gateway.support import Gateway, running_gateway
from tests.providers.synthetic.conftest import PROVIDER_DIR, load_module
from tests.rest.openapi_check import validate
from tests.support.eventually import eventually
from timebase.cli.main import main
from timebase.core.config import RestConfig
from timebase.core.schedule import Schedule
from timebase.core.watchlists import Watchlist
from timebase.gateway.query import QueryApi
from timebase.gateway.watchlists import WatchlistRunner
from timebase.grpc.server import GrpcServer
from timebase.rest import RestServer
from timebase.rest.metrics import Metrics
from timebase.rest.watchlist_metrics import WatchlistCollector
from timebase.sdk import Manifest, load_manifest
from timebase.sdk.errors import DatabaseError
from timebase.sdk.intervals import Interval
from timebase.sdk.manifest import RateLimits
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def synthetic() -> tuple[ModuleType, Manifest]:
    """The provider module and its manifest, loaded outside the event loop (file I/O)."""
    return load_module(), load_manifest(PROVIDER_DIR / "config.yaml")


def watchlist(name: str, symbols: Sequence[str], intervals: Sequence[str], **kw: Any) -> Watchlist:
    return Watchlist(
        name,
        tuple(symbols),
        tuple(Interval(i) for i in intervals),
        lookback_days=kw.pop("lookback_days", 10),
        schedule=Schedule.parse(kw.pop("schedule", 3600)),
        **kw,
    )


@contextlib.asynccontextmanager
async def watching(
    database_url: str,
    synthetic: tuple[ModuleType, Manifest],
    watchlists: Sequence[Watchlist],
    clock: Clock,
    rate_limits: RateLimits | None = None,
) -> AsyncIterator[tuple[Gateway, WatchlistRunner]]:
    module, manifest = synthetic
    if rate_limits is not None:
        manifest = dataclasses.replace(manifest, rate_limits=rate_limits)
    provider = module.SyntheticProvider(manifest, manifest.load_options({}))
    async with running_gateway(database_url, provider, clock=clock) as gw:
        yield gw, WatchlistRunner(gw.history, watchlists)


def _day(n: int) -> datetime:
    return datetime(2024, 2, 20, tzinfo=UTC) + n * DAY


async def _stamps(gw: Gateway, symbol: str, interval: str) -> list[datetime]:
    table = await gw.store.read_table(
        symbol, Interval(interval), datetime(2000, 1, 1, tzinfo=UTC), NOW + 30 * DAY
    )
    return list(table.column("timestamp").to_pylist())


async def test_the_backfill_stores_every_item_then_a_refresh_picks_up_new_bars(
    fresh_database_url: str, synthetic: tuple[ModuleType, Manifest]
) -> None:
    clock = Clock(NOW)
    majors = watchlist("majors", ["SYN:ACME", "SYN:BOLT"], ["1d", "1h"], lookback_days=10)
    async with watching(fresh_database_url, synthetic, [majors], clock) as (gw, runner):
        state = await runner.run("majors")
        assert [(i.symbol, i.interval.value, i.status, i.message) for i in state.items] == [
            ("SYN:ACME", "1d", "ok", ""),
            ("SYN:ACME", "1h", "ok", ""),
            ("SYN:BOLT", "1d", "ok", ""),
            ("SYN:BOLT", "1h", "ok", ""),
        ]
        assert (state.runs, state.last_result, state.items_done, state.items_total) == (
            1,
            "ok",
            4,
            4,
        )
        assert (state.last_start, state.last_end, state.next_run) == (
            NOW,
            NOW,
            NOW + timedelta(hours=1),
        )
        # [NOW - 10 days, NOW): the daily bars of Feb 21 ... Mar 1, the hourly ones up to 11:00.
        daily = [_day(n) for n in range(1, 11)]
        hourly_first, hourly_last = NOW - 10 * DAY, NOW - timedelta(hours=1)
        for symbol in ("SYN:ACME", "SYN:BOLT"):
            assert await _stamps(gw, symbol, "1d") == daily
            hourly = await _stamps(gw, symbol, "1h")
            assert (len(hourly), hourly[0], hourly[-1]) == (240, hourly_first, hourly_last)
        assert state.items[0].latest_bar == datetime(2024, 3, 1, tzinfo=UTC)
        assert state.items[1].latest_bar == hourly_last
        fetched = gw.history.upstream_requests

        # Three days later: only what is new is fetched (one request per item).
        clock.now = NOW + 3 * DAY
        state = await runner.run("majors")
        assert (state.runs, state.last_result) == (2, "ok")
        assert gw.history.upstream_requests - fetched == 4
        for symbol in ("SYN:ACME", "SYN:BOLT"):
            assert await _stamps(gw, symbol, "1d") == [_day(n) for n in range(1, 14)]
            hourly = await _stamps(gw, symbol, "1h")
            assert (len(hourly), hourly[-1]) == (240 + 72, clock.now - timedelta(hours=1))
        assert state.items[0].latest_bar == datetime(2024, 3, 4, tzinfo=UTC)


async def test_the_runner_backfills_at_start_and_stops_cleanly(
    fresh_database_url: str, synthetic: tuple[ModuleType, Manifest]
) -> None:
    clock = Clock(NOW)
    lists = [watchlist("a", ["SYN:ACME"], ["1d"]), watchlist("b", ["SYN:BOLT"], ["1wk"])]
    async with watching(fresh_database_url, synthetic, lists, clock) as (gw, runner):
        await runner.start()
        try:
            await eventually(
                lambda: all(s.runs == 1 for s in runner.states()), what="both backfilled"
            )
        finally:
            await runner.stop()
        assert runner._task is None
        a, b = runner.states()
        assert (a.last_result, b.last_result) == ("ok", "ok")
        assert len(await _stamps(gw, "SYN:ACME", "1d")) == 10
        # The newest weekly bar starts on Monday, February 26.
        assert b.items[0].latest_bar == datetime(2024, 2, 26, tzinfo=UTC)
        assert a.next_run == NOW + timedelta(hours=1)


async def test_a_quota_is_never_exceeded_and_skipped_items_are_reported(
    fresh_database_url: str, synthetic: tuple[ModuleType, Manifest]
) -> None:
    clock = Clock(NOW)
    lists = [watchlist("q", ["SYN:A", "SYN:B", "SYN:C"], ["1d"])]
    limits = RateLimits(requests_per_day=2)
    async with watching(fresh_database_url, synthetic, lists, clock, limits) as (gw, runner):
        state = await runner.run("q")
        assert [(i.symbol, i.status) for i in state.items] == [
            ("SYN:A", "ok"),
            ("SYN:B", "ok"),
            ("SYN:C", "skipped"),
        ]
        assert state.items[2].message == (
            "quota exhausted: synthetic: daily quota of 2 requests used up"
        )
        assert (state.last_result, state.skips["quota"], state.skips["error"]) == ("partial", 1, 0)
        assert gw.history.quota.use("synthetic").day_used == 2
        assert gw.history.upstream_requests == 2
        assert await _stamps(gw, "SYN:C", "1d") == []
        # The next day the quota is back: the skipped item is fetched, nothing else is asked.
        clock.now = NOW + DAY
        state = await runner.run("q")
        assert [i.status for i in state.items] == ["ok", "ok", "skipped"]
        assert gw.history.quota.use("synthetic").day_used == 2
        assert len(await _stamps(gw, "SYN:A", "1d")) == 11


async def test_status_shows_progress_on_rest_grpc_the_cli_and_metrics(
    fresh_database_url: str,
    synthetic: tuple[ModuleType, Manifest],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    clock = Clock(NOW)
    lists = [watchlist("majors", ["SYN:ACME"], ["1d"], schedule="0 22 * * 1-5")]
    async with watching(fresh_database_url, synthetic, lists, clock) as (gw, runner):
        api = QueryApi(gw.history, watchlists=runner)
        await runner.run("majors")
        rest = RestServer(api, port=0, config=RestConfig(rate_limit_enabled=False))
        await rest.start()
        grpc_server = GrpcServer("127.0.0.1", 0)
        grpc_server.attach(api)
        await grpc_server.start()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{rest.url}/api/watchlists") as resp,
            ):
                assert resp.status == 200
                body = await resp.json()
            validate("/api/watchlists", "get", 200, body)
            assert body["data"] == {
                "watchlists": [
                    {
                        "name": "majors",
                        "symbols": ["SYN:ACME"],
                        "intervals": ["1d"],
                        "lookbackDays": 10,
                        "schedule": "0 22 * * 1-5",
                        "provider": None,
                        "running": False,
                        "itemsTotal": 1,
                        "itemsDone": 1,
                        "runs": 1,
                        "lastResult": "ok",
                        "lastStart": "2024-03-01T12:00:00Z",
                        "lastEnd": "2024-03-01T12:00:00Z",
                        "nextRun": "2024-03-01T22:00:00Z",
                        "skips": {"quota": 0, "error": 0},
                        "items": [
                            {
                                "symbol": "SYN:ACME",
                                "interval": "1d",
                                "status": "ok",
                                "message": "",
                                "lastRun": "2024-03-01T12:00:00Z",
                                "latestBar": "2024-03-01T00:00:00Z",
                            }
                        ],
                    }
                ]
            }
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
                stub: Any = v1_grpc.GatewayServiceStub(channel)
                reply = await stub.ListWatchlists(v1.ListWatchlistsRequest())
            (status,) = reply.watchlists
            assert (status.name, status.items_done, status.items_total, status.last_result) == (
                "majors",
                1,
                1,
                "ok",
            )
            assert status.next_run.ToDatetime(UTC) == datetime(2024, 3, 1, 22, tzinfo=UTC)
            assert status.items[0].latest_bar.ToDatetime(UTC) == datetime(2024, 3, 1, tzinfo=UTC)

            config = tmp_path / "timebase.yaml"
            await asyncio.to_thread(config.write_text, "log: {format: text}\n")
            monkeypatch.setenv("TIMEBASE_GRPC_PORT", str(grpc_server.port))
            # keep pytest's log handlers (the command would configure its own)
            monkeypatch.setattr("timebase.cli.main.configure_logging", lambda *a, **k: None)
            code = await asyncio.to_thread(main, ["-c", str(config), "watchlists", "status"])
            assert code == 0
            out = capsys.readouterr().out.splitlines()
            assert out[0].split() == [
                "watchlist",
                "schedule",
                "progress",
                "runs",
                "last",
                "result",
                "last",
                "run",
                "next",
                "run",
            ]
            assert out[1].split() == [
                "majors",
                "0",
                "22",
                "*",
                "*",
                "1-5",
                "1/1",
                "1",
                "ok",
                "2024-03-01",
                "12:00:00",
                "2024-03-01",
                "22:00:00",
            ]
            assert out[4].split() == [
                "majors",
                "SYN:ACME",
                "1d",
                "ok",
                "2024-03-01",
                "00:00:00",
            ]
        finally:
            await grpc_server.stop(0.1)
            await rest.stop()

        metrics = Metrics(gw.history, gw.store)
        metrics.registry.register(WatchlistCollector(runner))
        samples = dict(
            line.rsplit(" ", 1)
            for line in metrics.render().decode().splitlines()
            if line.startswith("timebase_watchlist_")
        )
        found = {name: float(value) for name, value in samples.items()}
        assert found == {
            'timebase_watchlist_items{watchlist="majors"}': 1.0,
            'timebase_watchlist_items_done{watchlist="majors"}': 1.0,
            'timebase_watchlist_running{watchlist="majors"}': 0.0,
            'timebase_watchlist_runs_total{result="ok",watchlist="majors"}': 1.0,
            'timebase_watchlist_runs_total{result="partial",watchlist="majors"}': 0.0,
            'timebase_watchlist_runs_total{result="failed",watchlist="majors"}': 0.0,
            'timebase_watchlist_skips_total{reason="quota",watchlist="majors"}': 0.0,
            'timebase_watchlist_skips_total{reason="error",watchlist="majors"}': 0.0,
            'timebase_watchlist_last_run_start_timestamp_seconds{watchlist="majors"}': (
                NOW.timestamp()
            ),
            'timebase_watchlist_last_run_end_timestamp_seconds{watchlist="majors"}': (
                NOW.timestamp()
            ),
            'timebase_watchlist_next_run_timestamp_seconds{watchlist="majors"}': datetime(
                2024, 3, 1, 22, tzinfo=UTC
            ).timestamp(),
            'timebase_watchlist_item_latest_bar_timestamp_seconds{interval="1d",'
            'symbol="SYN:ACME",watchlist="majors"}': datetime(2024, 3, 1, tzinfo=UTC).timestamp(),
        }


async def test_a_failing_item_is_reported_and_retried_within_a_minute(
    fresh_database_url: str, synthetic: tuple[ModuleType, Manifest]
) -> None:
    clock = Clock(NOW)
    lists = [watchlist("mixed", ["AAPL", "SYN:ACME"], ["1d"], schedule="every 1d")]
    async with watching(fresh_database_url, synthetic, lists, clock) as (gw, runner):
        state = await runner.run("mixed")
        aapl, acme = state.items
        assert (aapl.status, acme.status, state.last_result) == ("failed", "ok", "partial")
        assert aapl.message.startswith("no provider serves symbol 'AAPL' (synthetic: ")
        assert (state.skips["error"], state.skips["quota"]) == (1, 0)
        assert state.next_run == NOW + timedelta(seconds=60)
        assert len(await _stamps(gw, "SYN:ACME", "1d")) == 10


async def test_a_run_while_the_database_is_down_fails_its_items_and_is_retried_within_a_minute(
    fresh_database_url: str, synthetic: tuple[ModuleType, Manifest]
) -> None:
    """Every item is tried (one failing never stops the others), the run is `failed`, not an
    error out of `run` (a 503 on the doors that start a run), and it runs again within a minute."""
    clock = Clock(NOW)
    lists = [watchlist("majors", ["SYN:ACME", "SYN:BETA"], ["1d"], schedule="every 1d")]
    async with watching(fresh_database_url, synthetic, lists, clock) as (gw, runner):
        gw.store.pool.suspend(DatabaseError("the database is down", retry_after=1.0))
        try:
            state = await runner.run("majors")
        finally:
            await gw.store.pool.resume()
        assert [(i.symbol, i.status, i.message) for i in state.items] == [
            ("SYN:ACME", "failed", "the database is down"),
            ("SYN:BETA", "failed", "the database is down"),
        ]
        assert (state.last_result, state.runs, state.skips["error"]) == ("failed", 1, 2)
        assert state.next_run == NOW + timedelta(seconds=60)
        state = await runner.run("majors")  # the database is back
        assert [i.status for i in state.items] == ["ok", "ok"]
        assert len(await _stamps(gw, "SYN:BETA", "1d")) == 10
