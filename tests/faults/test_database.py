"""Database faults under a mixed read and ingest load: the embedded PostgreSQL killed with
SIGKILL (TimeBase restarts it), an external PostgreSQL restarted (TimeBase reconnects), and the
embedded one crashing more often than allowed (`timebase serve` exits with code 3).

Every acknowledged `DoPut` batch is in the table afterwards; every refused request got a clear
UNAVAILABLE answer saying when to retry. The recovery times are printed (docs/faults.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli.serve_support import start_serve
from tests.conftest import skip_without_timescaledb
from tests.faults.support import (
    PROVIDER,
    SYMBOL,
    T0,
    Load,
    missing_acknowledged,
    stored_days,
)
from tests.support.eventually import eventually
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, RestConfig
from timebase.server import TimeBaseApp
from timebase.store.embedded import EmbeddedPostgres, timescaledb_installed
from timebase.store.embedded_crash import PID_FILE, read_pid_file, server_processes

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]

END = datetime(2000, 1, 1, tzinfo=T0.tzinfo)
#: Load before the fault, and after the recovery (seconds).
WARM_UP = 1.5
COOL_DOWN = 2.0


def _config(tmp_path: Path, database: DatabaseConfig) -> Config:
    return Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=database,
        providers=ProvidersConfig(bundled_dir=tmp_path / "no-providers"),
        rest=RestConfig(rate_limit_enabled=False),
    )


def _load(app: TimeBaseApp) -> Load:
    assert app.rest is not None
    return Load(
        flight_location=f"grpc://127.0.0.1:{app.flight.port}",
        rest_url=f"http://127.0.0.1:{app.rest.port}",
        grpc_target=f"127.0.0.1:{app.grpc.port}",
    )


async def _serving_again(load: Load, within: float) -> float:
    """Wait until writes and both reads succeed again after the last refusal; return when the
    first of them ended (monotonic time)."""

    def every_kind() -> bool:
        again = load.serving_again()
        return bool(load.unexpected) or (again is not None and again[1] == {"put", "rest", "grpc"})

    await eventually(every_kind, within=within, interval=0.05, what="requests to succeed again")
    assert load.unexpected == []
    again = load.serving_again()
    assert again is not None
    return again[0]


async def _check_no_acknowledged_bar_lost(app: TimeBaseApp, load: Load) -> None:
    assert app.store is not None
    stored = await app.store.read_table(SYMBOL, "1d", T0, END, provider=PROVIDER)
    acknowledged = load.acknowledged()
    assert acknowledged
    assert missing_acknowledged(acknowledged, stored_days(stored)) == []


def _report(
    report: Callable[[str], None], name: str, load: Load, recovery: float, **extra: object
) -> None:
    refused = load.refused()
    report(
        f"{name}: serving again {recovery:.2f} s after the fault; "
        f"{len(load.acknowledged())} DoPut batches acknowledged (all stored), "
        f"{sum(o.what == 'put' for o in refused)} refused, "
        f"{sum(o.what != 'put' for o in refused)} reads refused (503/UNAVAILABLE with a "
        "retry hint)" + "".join(f"; {k}: {v}" for k, v in extra.items())
    )


def _timescaledb(backend: str) -> str:
    """`database.embedded_timescaledb` for `backend` (the `backend` fixture's ids): TimescaleDB
    preloaded, or the one skip reason (a failure under .ci/run) when it is not installed."""
    if backend == "postgres":
        return "off"
    if not timescaledb_installed():
        skip_without_timescaledb()
    return "on"


async def test_kill_9_of_the_embedded_database_under_load(
    tmp_path: Path, report_fault: Callable[[str], None], backend: str
) -> None:
    database = DatabaseConfig(
        embedded_timescaledb=await asyncio.to_thread(_timescaledb, backend),
        embedded_check_interval_seconds=0.2,
        embedded_restart_backoff_seconds=0.2,
    )
    app = TimeBaseApp(_config(tmp_path, database))
    await app.start()
    try:
        assert app.embedded is not None
        assert app.database_supervisor is not None
        load = _load(app)
        load.start()
        try:
            await asyncio.sleep(WARM_UP)
            pid = app.embedded.postmaster_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            await eventually(
                lambda: (
                    app.database_supervisor is not None and app.database_supervisor.restarts == 1
                ),
                within=10,
                interval=0.05,
                what="the embedded PostgreSQL to be restarted",
            )
            recovery = await _serving_again(load, within=10) - killed
            await asyncio.sleep(COOL_DOWN)
        finally:
            await load.stop()
        assert load.unexpected == []
        assert recovery < 10
        assert app.database_supervisor.restarts == 1
        assert app.embedded.postmaster_pid != pid
        assert app.failure is None
        refused = load.refused()
        assert refused, "nothing was refused while the database was down"
        assert {(o.what, o.code) for o in refused} <= {
            ("put", "DATABASE_ERROR"),
            ("rest", "DATABASE_ERROR"),
            ("grpc", "UNAVAILABLE"),
        }
        assert all(o.retry_after is not None and o.retry_after >= 1 for o in refused)
        await _check_no_acknowledged_bar_lost(app, load)
        _report(
            report_fault,
            f"embedded PostgreSQL killed (kill -9) [{backend}]",
            load,
            recovery,
            restarted_by_the_supervisor_in=f"{app.database_supervisor.recovery_seconds[0]:.2f} s",
        )
    finally:
        await app.stop()


async def test_an_external_database_restarted_under_load(
    tmp_path: Path, report_fault: Callable[[str], None], backend: str
) -> None:
    external = EmbeddedPostgres(
        tmp_path / "external", timescaledb=await asyncio.to_thread(_timescaledb, backend)
    )
    await external.start()
    try:
        url = external.url
        app = TimeBaseApp(_config(tmp_path, DatabaseConfig(url=url)))
        await app.start()
        try:
            assert app.database_supervisor is None  # not TimeBase's to restart
            load = _load(app)
            load.start()
            try:
                await asyncio.sleep(WARM_UP)
                await external.stop()  # a fast shutdown: every session terminated
                await asyncio.sleep(1.0)
                await external.start()
                back = time.monotonic()
                assert external.url == url
                recovery = max(0.0, await _serving_again(load, within=10) - back)
                await asyncio.sleep(COOL_DOWN)
            finally:
                await load.stop()
            assert load.unexpected == []
            assert recovery < 10
            refused = load.refused()
            assert refused, "nothing was refused while the database was down"
            assert {o.code for o in refused} <= {"DATABASE_ERROR", "UNAVAILABLE"}
            await _check_no_acknowledged_bar_lost(app, load)
            outage = back + recovery - min(o.started for o in refused)
            _report(
                report_fault,
                f"external PostgreSQL restarted [{backend}]",
                load,
                recovery,
                fault="the database accepting connections again",
                first_refusal_to_serving_again=f"{outage:.2f} s",
            )
        finally:
            await app.stop()
    finally:
        await external.stop()


async def test_serve_exits_3_when_the_embedded_database_keeps_crashing(
    tmp_path: Path, data_dir: Path, backend: str
) -> None:
    config = tmp_path / "timebase.yaml"
    timescaledb = await asyncio.to_thread(_timescaledb, backend)
    await asyncio.to_thread(
        config.write_text,
        "database:\n  embedded_restarts: 1\n  embedded_check_interval_seconds: 0.2\n"
        f"  embedded_restart_backoff_seconds: 0.2\n  embedded_timescaledb: '{timescaledb}'\n"
        f"providers:\n  bundled_dir: {tmp_path / 'no-providers'}\n",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env.update(
        TIMEBASE_CONFIG=str(config),
        TIMEBASE_DATA_DIR=str(data_dir),
        TIMEBASE_GRPC_PORT="0",
        TIMEBASE_FLIGHT_PORT="0",
        TIMEBASE_HTTP_PORT="0",
        TIMEBASE_LOG_FORMAT="text",
    )
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        proc, lines = await asyncio.to_thread(start_serve, env, tmp_path, 60, stderr)
    try:
        assert lines[-1] == "Press Ctrl-C to stop."
        pid_file = data_dir / "postgres" / PID_FILE
        first = await asyncio.to_thread(read_pid_file, pid_file)
        assert first is not None
        os.kill(first, signal.SIGKILL)

        async def restarted() -> bool:
            return "the embedded PostgreSQL is back after" in await asyncio.to_thread(log.read_text)

        await eventually(restarted, within=15, interval=0.1, what="the first restart")
        second = await asyncio.to_thread(read_pid_file, pid_file)
        assert second is not None
        os.kill(second, signal.SIGKILL)
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait)
    text = await asyncio.to_thread(log.read_text)
    assert code == 3, text
    message = (
        f"timebase: the embedded PostgreSQL (pid {second}) stopped unexpectedly and was not "
        "restarted: 1 restarts within 300 s already (database.embedded_restarts is 1); see "
        f"{data_dir / 'postgres' / 'server.log'}; stopping"
    )
    assert message in text.splitlines(), text
    # Its server processes are gone with it: nothing holds the data directory.
    assert await asyncio.to_thread(server_processes, data_dir / "postgres") == []
