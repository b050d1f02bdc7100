"""Provider faults: a kill storm (the watchdog backs off and brings the provider back while
requests fail over to another provider of the same symbols), and a provider that hangs (its
requests time out, its circuit opens, the other provider answers). Times are printed
(docs/faults.md)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.faults.support import write_provider
from tests.support.eventually import eventually
from timebase.core.config import (
    Config,
    DatabaseConfig,
    ProvidersConfig,
    RestConfig,
    RoutingConfig,
)
from timebase.server import TimeBaseApp
from timebase.supervisor import ProviderState, ProviderStatus, Supervisor
from timebase.supervisor.watchdog import WatchdogPolicy
from timebase.v1 import bars_pb2, bars_pb2_grpc

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOURS = 10
KILLS = 10


@contextlib.asynccontextmanager
async def _app(
    tmp_path: Path, database_url: str, providers: ProvidersConfig, routing: RoutingConfig
) -> AsyncIterator[TimeBaseApp]:
    config = Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=database_url),
        providers=providers,
        routing=routing,
        rest=RestConfig(rate_limit_enabled=False),
    )
    app = TimeBaseApp(config)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def _request(symbol: str) -> bars_pb2.GetBarsRequest:
    request = bars_pb2.GetBarsRequest(symbol=symbol, interval="1h")
    request.start_time.FromDatetime(T0)
    request.end_time.FromDatetime(T0 + HOURS * timedelta(hours=1))
    return request


async def _bars(stub: bars_pb2_grpc.GatewayServiceStub, symbol: str) -> list[tuple[str, float]]:
    """(provider, close) of every bar GetBars answers for `symbol`'s 10 hours."""
    call: Any = stub.GetBars(_request(symbol), timeout=30)
    chunks: list[bars_pb2.GetBarsResponse] = [chunk async for chunk in call]
    return [(c.provider, close) for c in chunks for close in c.close]


def _expected(provider: str, base: int) -> list[tuple[str, float]]:
    return [(provider, float(base + k)) for k in range(HOURS)]


def _new_instance(killed: int | None, state: ProviderState) -> bool:
    return state.ready and state.pid not in (None, killed)


async def _kill_storm(supervisor: Supervisor) -> tuple[float, list[float], float]:
    """Kill `storm` KILLS times, each time once it is ready again: the storm's duration, the
    kill-to-ready time of each restart but the last, and when the last kill was."""
    recoveries: list[float] = []
    started = time.monotonic()
    killed_at = started
    killed: int | None = None
    for kill in range(KILLS):
        state = await supervisor.wait_for("storm", functools.partial(_new_instance, killed), 20)
        if kill:
            recoveries.append(time.monotonic() - killed_at)
        assert state.pid is not None
        killed = state.pid
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
    return time.monotonic() - started, recoveries, killed_at


async def test_a_provider_kill_storm(
    tmp_path: Path, database_url: str, report_fault: Callable[[str], None]
) -> None:
    root = tmp_path / "providers"
    await asyncio.to_thread(write_provider, root, "storm", base=100)
    await asyncio.to_thread(write_provider, root, "steady", base=500)
    providers = ProvidersConfig(
        bundled_dir=tmp_path / "no-bundled",
        directories=(root,),
        probe_interval_seconds=0.2,
        restart_backoff_seconds=0.2,
        restart_backoff_max_seconds=1.0,
        max_restarts=KILLS + 5,
        restart_window_seconds=300,
    )
    policy = WatchdogPolicy.from_config(providers)
    routing = RoutingConfig(
        priorities={"storm": 1, "steady": 2},
        retries=0,
        backoff_seconds=0.01,
        circuit_failures=3,
        circuit_reset_seconds=1.0,
    )
    async with _app(tmp_path, database_url, providers, routing) as app:
        supervisor = app.supervisor
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
            stub = bars_pb2_grpc.GatewayServiceStub(channel)
            assert await _bars(stub, "FLT:FIRST") == _expected("storm", 100)
            answers: list[list[tuple[str, float]]] = []
            failures: list[str] = []
            stopping = asyncio.Event()

            async def ask() -> None:
                n = 0
                while not stopping.is_set():
                    n += 1
                    try:  # a new symbol each time: fetched from a provider, never the store
                        answers.append(await _bars(stub, f"FLT:S{n}"))
                    except grpc.aio.AioRpcError as err:
                        failures.append(f"FLT:S{n}: {err.code().name}: {err.details()}")
                    await asyncio.sleep(0.05)

            asker = asyncio.create_task(ask())
            try:
                storm, recoveries, killed_at = await _kill_storm(supervisor)
                back = await supervisor.wait_for(
                    "storm", lambda s: s.ready and s.restarts == KILLS, within=20
                )
                recoveries.append(time.monotonic() - killed_at)
                # Back for requests too: the router sends them to it again once its circuit
                # closes (circuit_reset_seconds).
                await eventually(
                    lambda: bool(answers) and answers[-1][0][0] == "storm",
                    within=20,
                    what="the killed provider to answer again",
                )
                serving = time.monotonic() - killed_at
            finally:
                stopping.set()
                await asker
        assert back.status is ProviderStatus.READY
        assert back.restarts == KILLS
        assert failures == []
        served = {answer[0][0] for answer in answers}
        assert served == {"storm", "steady"}
        for answer in answers:
            provider = answer[0][0]
            assert answer == _expected(provider, 100 if provider == "storm" else 500)
        assert answers[-1][0][0] == "storm"
        # The watchdog backed off: restart n waited at least backoff(n) (0.2, 0.4, 0.8, 1, 1 …).
        for n, took in enumerate(recoveries, start=1):
            assert took >= policy.backoff(n), (n, recoveries)
        report_fault(
            f"provider kill storm: {KILLS} kills in {storm:.1f} s; "
            f"{len(answers)} requests answered, 0 failed "
            f"({sum(a[0][0] == 'steady' for a in answers)} by the other provider); "
            f"kill-to-ready per restart: {', '.join(f'{r:.2f}' for r in recoveries)} s; "
            f"last kill to serving requests again: {serving:.2f} s"
        )


async def test_a_hanging_provider(
    tmp_path: Path, database_url: str, report_fault: Callable[[str], None]
) -> None:
    root = tmp_path / "providers"
    await asyncio.to_thread(write_provider, root, "hang", hang=True)
    await asyncio.to_thread(write_provider, root, "steady", base=500)
    providers = ProvidersConfig(
        bundled_dir=tmp_path / "no-bundled", directories=(root,), probe_interval_seconds=0.5
    )
    timeout = 1.0
    routing = RoutingConfig(
        priorities={"hang": 1, "steady": 2},
        retries=0,
        circuit_failures=2,
        circuit_reset_seconds=60,
        request_timeout_seconds=timeout,
    )
    calls = tmp_path / "data" / "providers" / "hang"

    def hang_calls() -> int:
        return len(list(calls.glob("call-*")))

    async with _app(tmp_path, database_url, providers, routing) as app:
        assert app.rest is not None
        url = f"http://127.0.0.1:{app.rest.port}/api/providers/hang/data/FLT:A"
        params = {"interval": "1h", "start": "2024-01-01", "end": "2024-01-01T10:00"}
        async with (
            aiohttp.ClientSession() as session,
            grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel,
        ):
            stub = bars_pb2_grpc.GatewayServiceStub(channel)
            # 1. Asking the hanging provider itself: a clear timeout (failure 1 of 2).
            started = time.monotonic()
            async with session.get(url, params=params) as response:
                timed_out = (response.status, await response.json())
            first = time.monotonic() - started
            # 2. The gateway's choice: the hanging provider times out (failure 2: its circuit
            # opens), the other one answers the same request.
            started = time.monotonic()
            assert await _bars(stub, "FLT:B") == _expected("steady", 500)
            failed_over = time.monotonic() - started
            # 3. Circuit open: the other provider answers at once; the hanging one is not asked.
            started = time.monotonic()
            assert await _bars(stub, "FLT:C") == _expected("steady", 500)
            circuit_open = time.monotonic() - started
            async with session.get(url, params=params) as response:
                refused = (response.status, await response.json())
            assert await asyncio.to_thread(hang_calls) == 2
    status, body = timed_out
    assert status == 503
    assert body["error"]["code"] == "PROVIDER_UNAVAILABLE"
    assert body["error"]["message"] == (
        "every provider failed for FLT:A 1h (hang: DEADLINE_EXCEEDED: Deadline Exceeded)"
    )
    assert first >= timeout
    assert failed_over >= timeout
    status, body = refused
    assert status == 503
    assert body["error"]["code"] == "PROVIDER_UNAVAILABLE"
    assert body["error"]["message"].startswith("provider 'hang': circuit open (next try in ")
    report_fault(
        f"hanging provider: a request to it timed out after {first:.2f} s "
        f"(request timeout {timeout:g} s); failover answered in {failed_over:.2f} s; "
        f"with the circuit open the other provider answered in {circuit_open:.2f} s"
    )
