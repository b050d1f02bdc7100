"""The remote runtime: an address the supervisor only probes, never starts, stops or gives up on."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.supervisor.conftest import make_config, provider_folder
from timebase.core.config import Config, DatabaseConfig, ProviderSettings
from timebase.sdk import Bar, Provider, ProviderServer, parse_manifest
from timebase.server import TimeBaseApp
from timebase.supervisor import ProviderState, ProviderStatus, Supervisor

MANIFEST = parse_manifest(
    {"name": "Far", "version": "1", "slug": "far", "intervals": ["1d"]}, source="test"
)


class Far(Provider):
    async def get_historical_data(
        self, symbol: str, interval: str, start: object, end: object, limit: int | None
    ) -> AsyncIterator[Bar]:
        return
        yield


async def test_remote_provider_is_probed_not_managed(data_dir: Path, empty_bundled: Path) -> None:
    server = ProviderServer(Far(MANIFEST), port=0)
    await server.start()
    config = make_config(
        data_dir,
        bundled_dir=empty_bundled,
        settings={"far": ProviderSettings(runtime="remote", address=server.target)},
        start_timeout_seconds=1.0,
        max_restarts=1,
    )
    supervisor = Supervisor(config)
    seen: list[ProviderState] = []
    try:
        await supervisor.start()
        state = supervisor.get("far")
        assert state.status is ProviderStatus.READY, state.last_error
        assert (state.runtime, state.address, state.pid, state.manifest) == (
            "remote",
            server.target,
            None,
            None,
        )
        # The remote provider goes away: unhealthy, probed again with backoff, never given up
        # (max_restarts=1 would have failed a process provider after its second crash).
        await server.stop(grace=0)

        def third_retry(state: ProviderState) -> bool:
            seen.append(state)
            return "(retry 3)" in (state.last_error or "")

        retried = await supervisor.wait_for("far", third_retry, 20)
        assert retried.status is ProviderStatus.UNHEALTHY
        assert retried.last_error is not None
        assert retried.last_error.startswith("unreachable: not ready within 1 s: ")
        assert retried.last_error.endswith("; probing again in 0.2 s (retry 3)")
        assert retried.restarts == 0  # nothing was restarted: it is not TimeBase's to restart
        assert retried.uptime is not None
        assert retried.uptime < 1.0
        assert ProviderStatus.FAILED not in {s.status for s in seen}
    finally:
        await supervisor.stop()
        await server.stop(grace=0)


# A real SDK provider: three daily bars ending at the request's end (close = 10, 11, 12).
FAR_PROVIDER = """\
from datetime import timedelta
from timebase.sdk import Bar, Provider, serve

class Far(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        day = timedelta(days=1)
        for n, ts in enumerate((end - 3 * day, end - 2 * day, end - day)):
            price = 10.0 + n
            yield Bar(ts, price, price + 1, price - 1, price, 100.0)

if __name__ == "__main__":
    serve(Far)
"""


class RemoteProcess:
    """The provider folder's `src/main.py` run by the test (as someone else would run it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, port: int) -> int:
        env = {**os.environ, "TIMEBASE_PROVIDER_PORT": str(port), "TIMEBASE_LOG_LEVEL": "WARNING"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(self.folder / "src" / "main.py"),
            cwd=self.folder,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        match = re.search(rb"TIMEBASE_PROVIDER_LISTENING port=(\d+)", line)
        assert match is not None, line
        return int(match.group(1))

    async def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()


@contextlib.asynccontextmanager
async def running_app(config: Config) -> AsyncIterator[TimeBaseApp]:
    app = TimeBaseApp(config)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


async def test_a_remote_provider_back_after_the_restart_budget_is_ready_and_serves_bars(
    fresh_database_url: str, data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    folder = await provider_folder(providers_root, "far", FAR_PROVIDER)
    remote = RemoteProcess(folder)
    port = await remote.start(0)
    config = dataclasses.replace(
        make_config(
            data_dir,
            bundled_dir=empty_bundled,
            directories=(providers_root,),
            settings={"far": ProviderSettings(runtime="remote", address=f"127.0.0.1:{port}")},
            start_timeout_seconds=1.0,
            max_restarts=1,
            restart_backoff_max_seconds=0.4,
        ),
        grpc_port=0,
        flight_port=0,
        http_port=0,
        database=DatabaseConfig(url=fresh_database_url),
    )
    try:
        async with running_app(config) as app, aiohttp.ClientSession() as http:
            assert app.rest is not None
            base = f"http://127.0.0.1:{app.rest.port}/api/providers/far/data"
            range_ = "interval=1d&start=2024-01-01&end=2024-01-10"
            status, body = await get(http, f"{base}/X:ONE?{range_}")
            assert status == 200, body
            assert [b["close"] for b in body["data"]["data"]] == [10.0, 11.0, 12.0]

            await remote.kill()
            down = await app.supervisor.wait_for("far", lambda s: not s.ready, 10)
            assert down.status is ProviderStatus.UNHEALTHY
            status, body = await get(http, f"{base}/X:TWO?{range_}")
            assert status == 503
            assert body["error"]["code"] == "PROVIDER_UNAVAILABLE"
            assert body["error"]["message"].startswith("provider 'far' is not running (unhealthy: ")
            assert body["error"]["message"].endswith(") and has no stored bars for X:TWO")

            # Longer than the old budget (1 restart): a process provider would be failed now.
            unreachable = await app.supervisor.wait_for(
                "far", lambda s: "(retry 3)" in (s.last_error or ""), 20
            )
            assert unreachable.status is ProviderStatus.UNHEALTHY

            assert await remote.start(port) == port  # back on the same address
            back = await app.supervisor.wait_for("far", lambda s: s.ready, 20)
            assert back.status is ProviderStatus.READY
            assert back.address == f"127.0.0.1:{port}"
            status, body = await get(http, f"{base}/X:TWO?{range_}")
            assert status == 200, body
            assert [b["close"] for b in body["data"]["data"]] == [10.0, 11.0, 12.0]
            assert body["data"]["warnings"] == []
    finally:
        await remote.kill()
