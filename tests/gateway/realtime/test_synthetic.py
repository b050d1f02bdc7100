"""The hub in front of the bundled synthetic provider (its real-time clock set short)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from tests.gateway.realtime.conftest import serve_hub
from tests.providers.synthetic.conftest import PROVIDER_DIR, load_module
from tests.support.eventually import eventually
from timebase.gateway.realtime import UpstreamTarget
from timebase.sdk import Manifest, ProviderServer, load_manifest
from timebase.store import Store


@pytest.fixture(scope="module")
def synthetic() -> tuple[ModuleType, Manifest]:
    """The provider module and its manifest, loaded outside the event loop (file I/O)."""
    return load_module(), load_manifest(PROVIDER_DIR / "config.yaml")


async def test_synthetic_real_time_through_the_hub(
    store: Store, synthetic: tuple[ModuleType, Manifest]
) -> None:
    module, manifest = synthetic
    options = manifest.validate_options({"realtime_interval_seconds": 0.05})
    provider = module.SyntheticProvider(manifest, options)
    async with ProviderServer(provider, port=0) as server:
        targets = [UpstreamTarget("synthetic", server.target)]
        async with serve_hub(store, lambda s, i: targets) as gw:
            a, b = gw.client(), gw.client()
            await a.subscribe("syn:acme", "1m")
            await b.subscribe("SYN:ACME", "1m")
            got_a = await a.bars(5)
            got_b = await b.bars(5)
            assert gw.hub.upstream() == {("SYN:ACME", "1m"): "synthetic"}
            assert gw.hub.upstream_calls == 1
            now = datetime.now(UTC)
            for msg in got_a + got_b:
                assert (msg.symbol, msg.interval, msg.provider) == ("SYN:ACME", "1m", "synthetic")
                assert msg.low <= min(msg.open, msg.close) <= max(msg.open, msg.close) <= msg.high
                assert msg.metadata["final"] in ("true", "false")
                start = msg.timestamp.ToDatetime(UTC)
                assert now - timedelta(minutes=2) <= start <= now
            a.cancel()
            b.cancel()
            await eventually(lambda: gw.hub.upstream_calls == 0)
