"""The process runtime under the supervisor: real provider processes, real gRPC."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.supervisor.conftest import (
    BUNDLED,
    CRASHING_PROVIDER,
    HANGING_PROVIDER,
    LEGACY_PROVIDER,
    SDK_PROVIDER,
    alive,
    gone,
    make_config,
    provider_folder,
)
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.supervisor import ProviderState, ProviderStatus, Supervisor


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


async def _historical(address: str) -> list[pb.TimeSeriesData]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.DataProviderStub(channel)
        request = pb.HistoricalDataRequest(
            symbol="SYN:ACME",
            interval="1d",
            start_time=_ts(datetime(2024, 1, 1, tzinfo=UTC)),
            end_time=_ts(datetime(2024, 1, 11, tzinfo=UTC)),
        )
        return [bar async for bar in stub.GetHistoricalData(request, timeout=10)]


async def test_synthetic_starts_and_answers_historical_data(data_dir: Path) -> None:
    supervisor = Supervisor(make_config(data_dir, bundled_dir=BUNDLED, enabled=("synthetic",)))
    await supervisor.start()
    try:
        state = supervisor.get("synthetic")
        assert state.status is ProviderStatus.READY, state.last_error
        assert state.runtime == "process"
        assert state.address is not None
        assert state.address.startswith("127.0.0.1:")
        assert state.manifest is not None
        assert state.manifest.slug == "synthetic"
        assert state.pid is not None
        assert state.started_at is not None
        assert state.restarts == 0
        bars = await _historical(state.address)
        assert len(bars) == 10
        assert {bar.symbol for bar in bars} == {"SYN:ACME"}
        assert all(bar.provider == "synthetic" for bar in bars)
        assert [s.slug for s in supervisor.providers()] == ["synthetic"]
        # A few probes later, latency and uptime are measured.
        state = await supervisor.wait_for("synthetic", lambda s: (s.uptime or 0) > 0, 5)
        assert state.latency_ms is not None
        assert state.latency_ms > 0
        assert state.uptime == 1.0
    finally:
        await supervisor.stop()
    assert supervisor.get("synthetic").status is ProviderStatus.STOPPED


async def test_kill_9_restarts_the_provider(data_dir: Path) -> None:
    supervisor = Supervisor(make_config(data_dir, bundled_dir=BUNDLED, enabled=("synthetic",)))
    seen: list[ProviderStatus] = []
    supervisor.subscribe(lambda state: seen.append(state.status))
    await supervisor.start()
    try:
        first = await supervisor.wait_ready("synthetic", within=15)
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        state = await supervisor.wait_for(
            "synthetic", lambda s: s.restarts == 1 and s.status is ProviderStatus.READY, 20
        )
        assert state.slug == "synthetic"
        assert state.pid is not None
        assert state.pid != first.pid
        assert await gone(first.pid)
        assert state.last_error is not None
        assert "SIGKILL" in state.last_error
        assert ProviderStatus.RESTARTING in seen
        assert state.address is not None
        assert len(await _historical(state.address)) == 10
    finally:
        await supervisor.stop()


async def test_crash_loop_is_marked_failed(
    data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    await provider_folder(providers_root, "crashy", CRASHING_PROVIDER)
    config = make_config(data_dir, bundled_dir=empty_bundled, directories=(providers_root,))
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        state = await supervisor.wait_for("crashy", lambda s: s.status is ProviderStatus.FAILED, 30)
        assert state.restarts == 3  # max_restarts in FAST
        assert state.last_error is not None
        assert "gave up after 3 restarts" in state.last_error
        assert "exited with code 3" in state.last_error
        assert "about to fail" in state.last_error
        assert "about to fail" in await supervisor.logs("crashy")  # the last instance's output
    finally:
        await supervisor.stop()
    assert supervisor.get("crashy").status is ProviderStatus.FAILED


async def test_never_ready_provider_does_not_block_a_healthy_one(
    data_dir: Path, providers_root: Path
) -> None:
    await provider_folder(providers_root, "hangs", HANGING_PROVIDER)
    config = make_config(
        data_dir,
        bundled_dir=BUNDLED,
        directories=(providers_root,),
        enabled=("synthetic", "hangs"),
        start_timeout_seconds=6.0,
        max_restarts=1,
    )
    supervisor = Supervisor(config)
    #: slug → what "hangs" had reported when that provider became READY.
    hangs_error_when_ready: dict[str, str | None] = {}

    def on_change(state: ProviderState) -> None:
        if state.status is ProviderStatus.READY:
            hangs_error_when_ready.setdefault(state.slug, supervisor.get("hangs").last_error)

    supervisor.subscribe(on_change)
    await supervisor.start()
    try:
        assert supervisor.get("synthetic").status is ProviderStatus.READY
        # Not held up by "hangs": synthetic was ready before hangs' start timeout ran out.
        assert hangs_error_when_ready == {"synthetic": None}
        hangs = supervisor.get("hangs")
        assert hangs.status in (ProviderStatus.RESTARTING, ProviderStatus.STARTING)
        hangs = await supervisor.wait_for("hangs", lambda s: s.last_error is not None, 30)
        assert hangs.last_error is not None
        assert "did not start within 6 s" in hangs.last_error
        assert "hangs" not in hangs_error_when_ready
    finally:
        await supervisor.stop()


async def test_legacy_provider_ready_through_dataprovider_healthcheck(
    data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    await provider_folder(providers_root, "legacy", LEGACY_PROVIDER)
    config = make_config(data_dir, bundled_dir=empty_bundled, directories=(providers_root,))
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        state = supervisor.get("legacy")
        assert state.status is ProviderStatus.READY, state.last_error
        # Keeps passing probes through the fallback.
        state = await supervisor.wait_for("legacy", lambda s: (s.uptime or 0) > 0, 5)
        assert state.status is ProviderStatus.READY
    finally:
        await supervisor.stop()


async def test_stop_leaves_no_orphans_including_grandchildren(
    data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    await provider_folder(providers_root, "parent", SDK_PROVIDER, grandchild=True)
    config = make_config(data_dir, bundled_dir=empty_bundled, directories=(providers_root,))
    supervisor = Supervisor(config)
    await supervisor.start()
    state = supervisor.get("parent")
    try:
        assert state.status is ProviderStatus.READY, state.last_error
        assert state.pid is not None
        pid_file = data_dir / "providers" / "parent" / "grandchild.pid"
        grandchild = int(await asyncio.to_thread(pid_file.read_text))
        assert await alive(state.pid)
        assert await alive(grandchild)
    finally:
        await supervisor.stop()
    assert await gone(state.pid)
    assert await gone(grandchild)  # it ignores SIGTERM: killed with the process group
    assert supervisor.get("parent").status is ProviderStatus.STOPPED


async def test_stop_during_start_leaves_no_process(
    data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    await provider_folder(providers_root, "slow", HANGING_PROVIDER)
    config = make_config(data_dir, bundled_dir=empty_bundled, directories=(providers_root,))
    supervisor = Supervisor(config)
    start = asyncio.create_task(supervisor.start())
    pid = await _launched_pid(supervisor, "slow")
    assert await alive(pid)
    assert supervisor.get("slow").status is ProviderStatus.STARTING
    await supervisor.stop()  # the gateway stops while the provider is still starting
    start.cancel()
    await asyncio.gather(start, return_exceptions=True)
    assert await gone(pid)
    assert supervisor.get("slow").status is ProviderStatus.STOPPED


async def _launched_pid(supervisor: Supervisor, slug: str) -> int:
    """The pid of a provider that was launched but has not reported its port yet."""
    for _ in range(200):
        handle = supervisor._handles.get(slug)
        if handle is not None and handle.runtime.pid is not None:
            return handle.runtime.pid
        await asyncio.sleep(0.05)
    raise AssertionError(f"provider {slug} was never launched")


async def test_provider_output_goes_to_the_gateway_log(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="timebase.provider")
    supervisor = Supervisor(make_config(data_dir, bundled_dir=BUNDLED, enabled=("synthetic",)))
    await supervisor.start()
    try:
        assert supervisor.get("synthetic").status is ProviderStatus.READY
    finally:
        await supervisor.stop()
    records = [r for r in caplog.records if r.name == "timebase.provider"]
    assert records
    assert all(getattr(r, "provider", None) == "synthetic" for r in records)
    assert any("listening on" in r.getMessage() for r in records)
    assert any(getattr(r, "provider_logger", "").startswith("timebase.sdk") for r in records)


# A gateway stand-in: runs a supervisor with the synthetic provider, prints the provider's pid.
_GATEWAY_SCRIPT = """\
import asyncio, sys
from pathlib import Path
from timebase.core.config import Config, ProvidersConfig
from timebase.supervisor import Supervisor

async def main():
    providers = ProvidersConfig(enabled=("synthetic",), process_user="root")
    config = Config(data_dir=Path(sys.argv[1]), providers=providers)
    supervisor = Supervisor(config)
    await supervisor.start()
    print(supervisor.get("synthetic").pid, flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


async def test_providers_exit_when_the_gateway_is_killed_with_sigkill(data_dir: Path) -> None:
    gateway = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _GATEWAY_SCRIPT, str(data_dir), stdout=asyncio.subprocess.PIPE
    )
    assert gateway.stdout is not None
    line = await asyncio.wait_for(gateway.stdout.readline(), 30)
    provider_pid = int(line)
    assert await alive(provider_pid)
    gateway.kill()
    await gateway.wait()
    # No stop() ran: the orphaned provider notices on its own and shuts down.
    assert await gone(provider_pid, within=5.0)
