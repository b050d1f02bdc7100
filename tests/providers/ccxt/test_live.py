"""Live: real BTC/USDT candles from Binance. Marked `live`; skips quickly when it is unreachable."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from timebase.sdk import Manifest

HOST = "api.binance.com"


async def _resolvable(host: str) -> bool:
    try:
        await asyncio.wait_for(asyncio.to_thread(socket.getaddrinfo, host, 443), 3.0)
    except (OSError, TimeoutError):
        return False
    return True


@pytest.mark.live
async def test_live_binance_hourly(ccxt_provider: ModuleType, manifest: Manifest) -> None:
    if not await _resolvable(HOST):
        pytest.skip(f"{HOST} cannot be resolved (no network)")
    provider = ccxt_provider.CcxtProvider(
        manifest, manifest.validate_options({"exchanges": "binance", "timeout": 10.0})
    )
    await provider.start()
    try:
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        bars = [
            b async for b in provider.get_historical_data(
                "BINANCE:BTC-USDT", "1h", hour - timedelta(hours=24), hour, None
            )
        ]  # fmt: skip
    finally:
        await provider.close()
    assert [b.timestamp for b in bars] == [hour - timedelta(hours=24 - k) for k in range(24)]
    for bar in bars:
        assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
