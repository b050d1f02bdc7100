"""The hot tier behind Flight DoGet: a repeated read is served from the mapped segments, and no
read is ever older than the last committed write, whichever write path made it and whichever
gateway on the same database ran it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.support import DAY, T0, RecordingProvider, counting_connections
from timebase.core.config import RetentionConfig
from timebase.gateway.bar_request import BarRequest
from timebase.sdk.intervals import Interval
from timebase.store.hot_tier import HotTier

pytestmark = pytest.mark.asyncio

START, END = T0, T0 + 10 * DAY
QUERY = {
    "symbol": "ACME",
    "interval": "1d",
    "start": START.isoformat(),
    "end": END.isoformat(),
    "provider": "alpha",
}
WRITE_PATHS = ("fetch", "ingest", "invalidate", "refresh", "retention")


def read(fg: FlightGateway, **query: Any) -> pa.Table:
    """get_flight_info, then every endpoint read (blocking: run in a thread)."""
    with fg.client() as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))
        tables = [client.do_get(e.ticket).read_all() for e in info.endpoints]
    return pa.concat_tables(tables) if tables else info.schema.empty_table()


def put(fg: FlightGateway, table: pa.Table, options: dict[str, Any]) -> None:
    with fg.client() as client:
        descriptor = flight.FlightDescriptor.for_command(json.dumps(options))
        writer, meta = client.do_put(descriptor, table.schema)
        writer.write_table(table)
        writer.done_writing()
        meta.read()
        writer.close()


def closes(table: pa.Table) -> list[float]:
    return [float(c) for c in table.column("close").to_pylist()]


@contextlib.asynccontextmanager
async def gateways(
    url: str, tmp_path: Path, count: int
) -> AsyncIterator[tuple[FlightGateway, FlightGateway, HotTier]]:
    """(reader with a hot tier, writer, the reader's tier): one gateway twice, or two gateways
    on one database (the writer with its own provider process and no hot tier)."""
    tier = HotTier(tmp_path / "hot", max_bytes=64 << 20)
    async with running_flight(url, RecordingProvider("alpha"), hot_tier=tier) as reader:
        if count == 1:
            yield reader, reader, tier
            return
        async with running_flight(url, RecordingProvider("alpha")) as writer:
            yield reader, writer, tier


async def write(path: str, writer: FlightGateway) -> None:
    history, store = writer.gateway.history, writer.gateway.store
    if path == "fetch":  # a read that is not cached_only fetches from the provider and stores
        await asyncio.to_thread(read, writer, **QUERY)
    elif path == "ingest":  # DoPut over the provider's own bars (an admin's override)
        stored = await store.read_table("ACME", "1d", START, END, provider="alpha")
        changed = stored.set_column(5, "close", pa.array([c + 0.5 for c in closes(stored)]))
        changed = changed.drop_columns(["interval", "provider", "metadata"])
        options = {"provider": "alpha", "interval": "1d", "override_provider": True}
        await asyncio.to_thread(put, writer, changed, options)
    elif path == "invalidate":
        await history.invalidate("ACME", Interval.D1, START + 2 * DAY, START + 5 * DAY, "alpha")
    elif path == "refresh":  # the provider's prices changed; a refresh stores them
        writer.gateway.providers["alpha"].base = 500.0
        request = BarRequest("ACME", Interval.D1, START, END, provider="alpha", refresh=True)
        await history.get(request)
    elif path == "retention":
        store.retention = RetentionConfig(daily_days=1)
        await store.apply_retention(now=START + 5 * DAY)
    else:  # pragma: no cover
        raise AssertionError(path)


@pytest.mark.parametrize("count", [1, 2], ids=["one-gateway", "two-gateways"])
@pytest.mark.parametrize("path", WRITE_PATHS)
async def test_no_stale_read_after_a_write(
    database_url: str, tmp_path: Path, path: str, count: int
) -> None:
    async with gateways(database_url, tmp_path, count) as (reader, writer, tier):
        if path != "fetch":
            await asyncio.to_thread(read, writer, **QUERY)  # stored by a fetch
        cached = {**QUERY, "cached_only": True}
        before = await asyncio.to_thread(read, reader, **cached)
        hits = tier.stats.hits
        again = await asyncio.to_thread(read, reader, **cached)
        assert again.equals(before)
        assert tier.stats.hits == hits + 1
        assert len(tier) == 1

        await write(path, writer)

        after = await asyncio.to_thread(read, reader, **cached)
        truth = await reader.gateway.store.read_table("ACME", "1d", START, END, provider="alpha")
        assert after.equals(truth)
        assert not after.equals(before)  # the write changed the series: this checks something
        assert tier.stats.stale == 1
        expected_rows = {"fetch": 10, "invalidate": 7, "retention": 6}.get(path, 10)
        assert after.num_rows == expected_rows
        if path == "ingest":
            assert closes(after) == [c + 0.5 for c in closes(before)]
        # Read once more: served from the new segment, the same rows.
        hits = tier.stats.hits
        assert (await asyncio.to_thread(read, reader, **cached)).equals(truth)
        assert tier.stats.hits == hits + 1


async def test_a_range_inside_a_segment_is_served_from_it(
    database_url: str, tmp_path: Path
) -> None:
    async with gateways(database_url, tmp_path, 1) as (reader, _, tier):
        whole = await asyncio.to_thread(read, reader, **QUERY)
        inner = {
            **QUERY,
            "start": (START + 3 * DAY).isoformat(),
            "end": (START + 6 * DAY + timedelta(hours=1)).isoformat(),
            "cached_only": True,
        }
        # the fetching read planned and read [START, END): its segment serves the inner range
        hits = tier.stats.hits
        part = await asyncio.to_thread(read, reader, **inner)
        assert tier.stats.hits == hits + 1
        assert part.equals(whole.slice(3, 4))


async def test_the_segments_stay_under_the_size_bound(database_url: str, tmp_path: Path) -> None:
    alpha = RecordingProvider("alpha")
    async with running_flight(database_url, alpha) as probe:
        one = await asyncio.to_thread(read, probe, **QUERY)
    # Room for about two segments of ten daily bars.
    tier = HotTier(tmp_path / "hot", max_bytes=2 * one.nbytes + 4096)
    async with running_flight(database_url, RecordingProvider("alpha"), hot_tier=tier) as fg:
        for symbol in ("AAA", "BBB", "CCC", "DDD"):
            await asyncio.to_thread(read, fg, **{**QUERY, "symbol": symbol})
            assert tier.size <= tier.max_bytes
        assert 1 <= len(tier) < 4
        assert tier.stats.evictions >= 1
        files = await asyncio.to_thread(lambda: list((tmp_path / "hot").iterdir()))
        assert len(files) == len(tier)  # evicted segments' files are gone
        # The most recent is kept: read again, a hit.
        hits = tier.stats.hits
        await asyncio.to_thread(read, fg, **{**QUERY, "symbol": "DDD", "cached_only": True})
        assert tier.stats.hits == hits + 1


async def test_a_hot_do_get_is_one_version_lookup(database_url: str, tmp_path: Path) -> None:
    async with gateways(database_url, tmp_path, 1) as (reader, _, tier):
        whole = await asyncio.to_thread(read, reader, **QUERY)  # fetched, read, kept

        def info() -> flight.FlightInfo:
            with reader.client() as client:
                command = json.dumps({**QUERY, "cached_only": True})
                return client.get_flight_info(flight.FlightDescriptor.for_command(command))

        def do_get(ticket: flight.Ticket) -> pa.Table:
            with reader.client() as client:
                return client.do_get(ticket).read_all()

        (endpoint,) = (await asyncio.to_thread(info)).endpoints
        hits = tier.stats.hits
        with counting_connections(reader.gateway.store) as leases:
            table = await asyncio.to_thread(do_get, endpoint.ticket)
        assert table.equals(whole)
        assert tier.stats.hits == hits + 1
        assert len(leases) == 1  # the version lookup; the bars came from the mapped segment
