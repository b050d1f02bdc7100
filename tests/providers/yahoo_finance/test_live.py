"""Live: real AAPL bars from Yahoo Finance. Marked `live`; skips quickly when Yahoo is unreachable."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from timebase.sdk import Manifest

HOST = "query1.finance.yahoo.com"


async def _resolvable(host: str) -> bool:
    try:
        await asyncio.wait_for(asyncio.to_thread(socket.getaddrinfo, host, 443), 3.0)
    except (OSError, TimeoutError):
        return False
    return True


@pytest.mark.live
async def test_live_aapl_daily(yahoo: ModuleType, manifest: Manifest, tmp_path: Path) -> None:
    if not await _resolvable(HOST):
        pytest.skip(f"{HOST} cannot be resolved (no network)")
    provider = yahoo.YahooFinanceProvider(
        manifest, manifest.validate_options({"cache_dir": str(tmp_path), "timeout": 10.0})
    )
    await provider.start()
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        batches = [
            b async for b in provider.get_historical_data(
                "AAPL", "1d", today - timedelta(days=21), today, None
            )
        ]  # fmt: skip
    finally:
        await provider.close()
    rows = [r for b in batches for r in b.to_pylist()]
    assert rows, "Yahoo returned no AAPL bars for the last three weeks"
    for row in rows:
        assert (row["timestamp"].hour, row["timestamp"].minute) == (0, 0)
        assert row["low"] <= min(row["open"], row["close"]) <= row["high"]
        assert "adj_close" in row["metadata"]
