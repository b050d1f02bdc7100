"""A cached GetBars: metadata and bars served from memory at the series' versions (one database
round trip), and never older than the last committed write, on one gateway or two."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.flight.test_hot_tier import END, START, gateways, write
from timebase.store.hot_tier import HotTier
from timebase.v1 import bars_pb2 as v1

from .support import Gateway, RecordingProvider, counting_connections, running_gateway

pytestmark = pytest.mark.asyncio


def get_bars_request(**kw: Any) -> v1.GetBarsRequest:
    msg = v1.GetBarsRequest(symbol="ACME", interval="1d", **kw)
    msg.start_time.FromDatetime(START)
    msg.end_time.FromDatetime(END)
    return msg


async def get_bars(gw: Gateway, **kw: Any) -> list[tuple[Any, ...]]:
    out = []
    async for chunk in gw.v1.GetBars(get_bars_request(**kw)):
        for i, ts in enumerate(chunk.timestamps_us):
            out.append((chunk.provider, ts, chunk.open[i], chunk.close[i], chunk.volume[i]))
    return out


@contextlib.asynccontextmanager
async def hot_gateway(url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    tier = HotTier(tmp_path / "hot", max_bytes=64 << 20)
    async with running_gateway(url, RecordingProvider("alpha"), hot_tier=tier) as gw:
        yield gw


@pytest.mark.parametrize("provider", ["", "alpha"], ids=["symbol-centric", "provider-aware"])
async def test_a_cached_get_bars_needs_one_database_round_trip(
    database_url: str, tmp_path: Path, provider: str
) -> None:
    async with hot_gateway(database_url, tmp_path) as gw:
        first = await get_bars(gw, provider=provider)  # fetched and stored
        assert len(first) == 10
        second = await get_bars(gw, provider=provider)  # read back, cached at these versions
        with counting_connections(gw.store) as leases:
            third = await get_bars(gw, provider=provider)
        assert third == second == first
        assert len(leases) == 1  # the version lookup, nothing else
        assert gw.store.hot_tier is not None
        assert gw.store.hot_tier.stats.hits >= 1


@pytest.mark.parametrize("count", [1, 2], ids=["one-gateway", "two-gateways"])
@pytest.mark.parametrize("path", ["ingest", "invalidate", "refresh", "retention"])
async def test_no_stale_get_bars_after_a_write(
    database_url: str, tmp_path: Path, path: str, count: int
) -> None:
    async with gateways(database_url, tmp_path, count) as (reader, writer, _):
        gw = reader.gateway
        before = await get_bars(gw, provider="alpha")
        assert await get_bars(gw, provider="alpha") == before  # now cached
        asked = len(gw.providers["alpha"].requests)

        await write(path, writer)

        after = await get_bars(gw, provider="alpha")
        truth = await gw.store.read_table("ACME", "1d", START, END, provider="alpha")
        assert [(r[1], r[3]) for r in after] == [
            (int(ts.timestamp() * 1_000_000), close)
            for ts, close in zip(
                truth.column("timestamp").to_pylist(),
                truth.column("close").to_pylist(),
                strict=True,
            )
        ]
        if path in ("invalidate", "retention"):
            # The forgotten range was seen as missing (not served from cached coverage): the
            # reader's provider was asked for it again.
            assert len(gw.providers["alpha"].requests) > asked
            assert len(after) == 10
        else:
            assert after != before
        if path == "ingest":
            assert len(gw.providers["alpha"].requests) == asked
