"""End to end: the whole app, real provider processes, one killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from tests.support.eventually import eventually, wait_until
from timebase.core.config import (
    Config,
    DatabaseConfig,
    ProvidersConfig,
    RoutingConfig,
)
from timebase.server import TimeBaseApp
from timebase.v1 import bars_pb2, bars_pb2_grpc

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

MANIFEST = """\
name: {slug}
version: "1.0.0"
slug: {slug}
capabilities: {{historical_data: true}}
intervals: [1h]
symbols: ['E2E:[A-Z]+']
"""

# Hourly bars with close = base + hour index. `slow` yields 3 bars, says so in a marker file in
# its data folder, then dawdles (the test kills it there); `backup` answers at once.
PROVIDER = """\
import asyncio, os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from timebase.sdk import Bar, Provider, serve

BASE = {base}
SLOW = {slow}

class P(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        ts = t0 + -((t0 - start) // timedelta(hours=1)) * timedelta(hours=1)
        n = 0
        while ts < end:
            k = (ts - t0) // timedelta(hours=1)
            yield Bar(ts, BASE + k, BASE + k + 1, BASE + k - 1, BASE + k, 10.0)
            n += 1
            ts += timedelta(hours=1)
            if SLOW and n == 3:
                Path(os.environ["TIMEBASE_PROVIDER_DATA_DIR"], "streaming").touch()
                await asyncio.sleep(60)

if __name__ == "__main__":
    serve(P)
"""


def _write(root: Path, slug: str, base: int, slow: bool) -> None:
    folder = root / slug
    (folder / "src").mkdir(parents=True)
    (folder / "config.yaml").write_text(MANIFEST.format(slug=slug))
    (folder / "src" / "main.py").write_text(textwrap.dedent(PROVIDER.format(base=base, slow=slow)))


async def test_kill_9_mid_stream_keeps_received_bars_and_fetches_the_rest_elsewhere(
    fresh_database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "providers"
    await asyncio.to_thread(_write, root, "slow", 100, True)
    await asyncio.to_thread(_write, root, "backup", 500, False)
    config = Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=fresh_database_url),
        providers=ProvidersConfig(
            bundled_dir=tmp_path / "none",
            directories=(root,),
            probe_interval_seconds=0.2,
            restart_backoff_seconds=0.1,
            process_user="root",  # see tests/supervisor/test_privileges.py
        ),
        routing=RoutingConfig(priorities={"slow": 1, "backup": 2}, backoff_seconds=0.01),
    )
    app = TimeBaseApp(config)
    await app.start()
    try:
        slow = app.supervisor.get("slow")
        assert slow.ready
        assert slow.pid is not None
        marker = tmp_path / "data" / "providers" / "slow" / "streaming"
        request = bars_pb2.GetBarsRequest(symbol="E2E:ACME", interval="1h")
        request.start_time.FromDatetime(T0)
        request.end_time.FromDatetime(T0 + 10 * HOUR)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
            stub = bars_pb2_grpc.GatewayServiceStub(channel)
            call = stub.GetBars(request, timeout=60)
            chunks = asyncio.create_task(_collect(call))
            await asyncio.to_thread(_wait_for_file, marker)
            # The SDK sends what a paused provider yielded after 0.25 s: kill once the gateway
            # has received those 3 bars (not after a fixed sleep).
            assert app.history is not None
            fetcher = app.history.fetcher
            await eventually(lambda: fetcher.bars_received == 3, within=30, what="3 bars")
            os.kill(slow.pid, signal.SIGKILL)
            got = [
                (c.provider, ts, close)
                for c in await chunks
                for ts, close in zip(c.timestamps_us, c.close, strict=True)
            ]
            # Warm: the same rows again, from the store.
            again = [
                (c.provider, ts, close)
                for c in await _collect(stub.GetBars(request, timeout=60))
                for ts, close in zip(c.timestamps_us, c.close, strict=True)
            ]
        # The watchdog notices the dead process and starts it again.
        restarted = await app.supervisor.wait_for(
            "slow", lambda s: s.ready and s.restarts == 1, within=20
        )
    finally:
        await app.stop()
    hour_us = 3_600_000_000
    t0_us = int(T0.timestamp()) * 1_000_000
    providers = [p for p, _, _ in got]
    received = providers.count("slow")
    # Whatever the killed provider had delivered is kept; the rest came from the backup.
    assert received == 3, providers
    assert providers == ["slow"] * received + ["backup"] * (10 - received)
    assert [ts for _, ts, _ in got] == [t0_us + k * hour_us for k in range(10)]
    assert [close for _, _, close in got] == [(100 if k < received else 500) + k for k in range(10)]
    assert again == got
    assert restarted.restarts == 1
    assert restarted.pid != slow.pid


def _wait_for_file(path: Path, within: float = 30.0) -> None:
    wait_until(path.exists, within=within, what=f"{path} to appear")


async def _collect(call: object) -> list[bars_pb2.GetBarsResponse]:
    return [chunk async for chunk in call]  # type: ignore[attr-defined]
