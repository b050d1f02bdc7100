"""The remote runtime: an address the supervisor only probes, never starts or stops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from tests.supervisor.conftest import make_config
from timebase.core.config import ProviderSettings
from timebase.sdk import Bar, Provider, ProviderServer, parse_manifest
from timebase.supervisor import ProviderStatus, Supervisor

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
        # The remote provider goes away: unhealthy, re-probed ("restarted"), then given up.
        await server.stop(grace=0)
        failed = await supervisor.wait_for("far", lambda s: s.status is ProviderStatus.FAILED, 15)
        assert failed.restarts == 1
        assert failed.last_error is not None
        assert "gave up after 1 restarts" in failed.last_error
        assert failed.uptime is not None
        assert failed.uptime < 1.0
    finally:
        await supervisor.stop()
        await server.stop(grace=0)
