"""Watchdog policy and unhealthy-provider restarts (a real provider whose health turns bad)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.supervisor.conftest import make_config, provider_folder
from timebase.core.config import ProvidersConfig
from timebase.supervisor import ProviderStatus, Supervisor, WatchdogPolicy

# DataProvider.HealthCheck says UNHEALTHY while a file named "sick" exists in its folder.
MOODY_PROVIDER = """\
import asyncio, os
import grpc
from timebase.provider import provider_pb2 as pb, provider_pb2_grpc as pb_grpc

class Moody(pb_grpc.DataProviderServicer):
    async def HealthCheck(self, request, context):
        if os.path.exists("sick"):
            return pb.HealthStatus(status=pb.HealthStatus.UNHEALTHY, message="upstream down")
        return pb.HealthStatus(status=pb.HealthStatus.DEGRADED, message="slow but fine")

async def main():
    server = grpc.aio.server()
    pb_grpc.add_DataProviderServicer_to_server(Moody(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"TIMEBASE_PROVIDER_LISTENING port={port} slug=moody", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


def test_policy_from_config_and_backoff() -> None:
    policy = WatchdogPolicy.from_config(
        ProvidersConfig(restart_backoff_seconds=0.5, restart_backoff_max_seconds=3.0)
    )
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    defaults = WatchdogPolicy.from_config(ProvidersConfig())
    assert (defaults.probe_interval, defaults.unhealthy_threshold, defaults.max_restarts) == (
        5.0,
        3,
        5,
    )


async def test_unhealthy_provider_is_restarted(
    data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    folder = await provider_folder(providers_root, "moody", MOODY_PROVIDER)
    config = make_config(data_dir, bundled_dir=empty_bundled, directories=(providers_root,))
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        first = supervisor.get("moody")
        assert first.status is ProviderStatus.READY, first.last_error  # DEGRADED still serves
        await asyncio.to_thread((folder / "sick").touch)
        unhealthy = await supervisor.wait_for(
            "moody", lambda s: s.status is ProviderStatus.UNHEALTHY, 10
        )
        assert unhealthy.last_error is not None
        assert "upstream down" in unhealthy.last_error
        restarting = await supervisor.wait_for(
            "moody", lambda s: s.status is ProviderStatus.RESTARTING, 10
        )
        assert restarting.last_error is not None
        assert restarting.last_error.startswith("unhealthy: 2 consecutive probes failed")
        await asyncio.to_thread((folder / "sick").unlink)
        again = await supervisor.wait_for(
            "moody", lambda s: s.status is ProviderStatus.READY and s.restarts >= 1, 15
        )
        assert again.pid != first.pid
        assert again.uptime is not None
        assert 0 < again.uptime < 1
    finally:
        await supervisor.stop()
