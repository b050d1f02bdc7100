"""GetFlightInfo of a hot query: planned and counted at the series' versions from memory and the
hot tier (one version lookup, nothing counted in the database), and never a stale count."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import FlightGateway, running_flight
from tests.flight.test_hot_tier import END, QUERY, START, WRITE_PATHS, gateways, put, read, write
from tests.gateway.support import DAY, RecordingProvider, counting_connections
from timebase.gateway.bar_request import BarRequest
from timebase.sdk.intervals import Interval
from timebase.store.hot_tier import HotTier

pytestmark = pytest.mark.asyncio


def info(fg: FlightGateway, **query: Any) -> flight.FlightInfo:
    with fg.client() as client:
        return client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))


def variant(provider_aware: bool, cached_only: bool, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {**QUERY, **extra}
    if not provider_aware:
        del query["provider"]
    if cached_only:
        query["cached_only"] = True
    return query


@pytest.mark.parametrize("cached_only", [False, True], ids=["fetching", "cached-only"])
@pytest.mark.parametrize("provider_aware", [True, False], ids=["provider-aware", "symbol-centric"])
async def test_a_hot_flight_info_is_one_version_lookup(
    database_url: str, tmp_path: Path, provider_aware: bool, cached_only: bool
) -> None:
    async with gateways(database_url, tmp_path, 1) as (fg, _, tier):
        query = variant(provider_aware, cached_only)
        whole = await asyncio.to_thread(read, fg, **variant(provider_aware, False))  # fetched
        assert whole.num_rows == 10
        await asyncio.to_thread(info, fg, **query)  # metadata read (and cached) at the versions
        with counting_connections(fg.gateway.store) as leases:
            hot = await asyncio.to_thread(info, fg, **query)
        assert len(leases) == 1  # the version lookup: no planning or counting query
        assert hot.total_records == 10
        # A range inside the kept segment is counted exactly too.
        inner = {**query, "start": (START + 3 * DAY).isoformat()}
        inner["end"] = (START + 7 * DAY).isoformat()
        with counting_connections(fg.gateway.store) as leases:
            part = await asyncio.to_thread(info, fg, **inner)
        assert len(leases) == 1
        assert part.total_records == 4
        hits = tier.stats.hits
        with fg.client() as client:
            (endpoint,) = part.endpoints
            table = await asyncio.to_thread(lambda: client.do_get(endpoint.ticket).read_all())
        assert table.equals(whole.slice(3, 4))
        assert tier.stats.hits == hits + 1


async def test_a_cold_range_is_still_counted_in_the_database(
    database_url: str, tmp_path: Path
) -> None:
    async with gateways(database_url, tmp_path, 1) as (fg, _, tier):
        await asyncio.to_thread(read, fg, **QUERY)
        wider = {**QUERY, "end": (END + 5 * DAY).isoformat(), "cached_only": True}
        # The segment holds [START, END): the wider range is counted by the database.
        with counting_connections(fg.gateway.store) as leases:
            counted = await asyncio.to_thread(info, fg, **wider)
        assert counted.total_records == 10
        assert len(leases) == 2  # the version lookup, then the count
        assert len(tier) == 1


async def test_a_range_split_into_endpoints_is_counted_from_their_segments(
    database_url: str, tmp_path: Path
) -> None:
    tier = HotTier(tmp_path / "hot", max_bytes=64 << 20)
    async with running_flight(
        database_url, RecordingProvider("alpha"), hot_tier=tier, endpoint_bars=4
    ) as fg:
        whole = await asyncio.to_thread(read, fg, **QUERY)  # 3 endpoints: 3 segments kept
        assert whole.num_rows == 10
        assert len(tier) == 3
        await asyncio.to_thread(info, fg, **QUERY)
        with counting_connections(fg.gateway.store) as leases:
            hot = await asyncio.to_thread(info, fg, **QUERY)
        assert len(leases) == 1  # the version lookup: the segments together hold the range
        assert hot.total_records == 10
        assert len(hot.endpoints) == 3
        # The store's own reads of the whole range are served by the segments together.
        hits = tier.stats.hits
        request = BarRequest("ACME", Interval.D1, START, END, provider="alpha")
        answer = await fg.gateway.history.get(request)
        assert answer.table.column("close").to_pylist() == whole.column("close").to_pylist()
        assert tier.stats.hits == hits + 1


async def test_a_derived_hot_query_is_counted_from_the_finer_bars(
    database_url: str, tmp_path: Path
) -> None:
    tier = HotTier(tmp_path / "hot", max_bytes=64 << 20)
    alpha = RecordingProvider("alpha", intervals=["1h"])
    async with running_flight(database_url, alpha, hot_tier=tier) as fg:
        query = {
            "symbol": "ACME",
            "interval": "4h",
            "start": START.isoformat(),
            "end": (START + 2 * DAY + timedelta(hours=4)).isoformat(),
            "provider": "alpha",
        }
        table = await asyncio.to_thread(read, fg, **query)  # 1h fetched, kept, aggregated
        assert table.num_rows == 2 * 6 + 1
        await asyncio.to_thread(info, fg, **query)
        with counting_connections(fg.gateway.store) as leases:
            hot = await asyncio.to_thread(info, fg, **query)
        assert len(leases) == 1
        assert hot.total_records == table.num_rows


@pytest.mark.parametrize("count", [1, 2], ids=["one-gateway", "two-gateways"])
@pytest.mark.parametrize("path", WRITE_PATHS)
async def test_no_stale_count_after_a_write(
    database_url: str, tmp_path: Path, path: str, count: int
) -> None:
    async with gateways(database_url, tmp_path, count) as (reader, writer, _):
        if path != "fetch":
            await asyncio.to_thread(read, writer, **QUERY)  # stored by a fetch
        cached = {**QUERY, "cached_only": True}
        await asyncio.to_thread(read, reader, **cached)  # kept in the reader's tier
        before = await asyncio.to_thread(info, reader, **cached)
        assert before.total_records == (0 if path == "fetch" else 10)

        await write(path, writer)

        counted = await asyncio.to_thread(info, reader, **cached)
        truth = await reader.gateway.store.read_table("ACME", "1d", START, END, provider="alpha")
        assert counted.total_records == truth.num_rows
        assert truth.num_rows == {"invalidate": 7, "retention": 6}.get(path, 10)
        # Read (kept at the new version), then counted from the tier again.
        await asyncio.to_thread(read, reader, **cached)
        with counting_connections(reader.gateway.store) as leases:
            again = await asyncio.to_thread(info, reader, **cached)
        assert again.total_records == truth.num_rows
        assert len(leases) == 1


async def test_a_hot_flight_info_of_a_data_set_is_one_version_lookup(
    database_url: str, tmp_path: Path
) -> None:
    """A data set (bars put under a slug no add-on serves, as `DoPut` leaves them) is planned
    and counted at its versions too: the existence check and the count come from memory."""
    async with gateways(database_url, tmp_path, 1) as (fg, _, _):
        whole = await asyncio.to_thread(read, fg, **variant(True, False))  # alpha's bars
        data_set = whole.drop_columns(["interval", "provider", "metadata"])
        options = {"provider": "imported", "interval": "1d"}
        await asyncio.to_thread(put, fg, data_set, options)
        query = {**QUERY, "provider": "imported"}
        first = await asyncio.to_thread(read, fg, **query)
        assert first.column("close").equals(whole.column("close"))
        assert set(first.column("provider").to_pylist()) == {"imported"}
        await asyncio.to_thread(info, fg, **query)
        with counting_connections(fg.gateway.store) as leases:
            hot = await asyncio.to_thread(info, fg, **query)
        assert len(leases) == 1  # the version lookup: no existence check, no count
        assert hot.total_records == 10
        # A write to the data set is seen by the next count (the versions changed).
        later = data_set.slice(0, 3)
        stamps = pa.array([END + i * DAY for i in range(3)], later.schema.field("timestamp").type)
        later = later.set_column(later.schema.get_field_index("timestamp"), "timestamp", stamps)
        await asyncio.to_thread(put, fg, later, options)
        wider = {**query, "end": (END + 3 * DAY).isoformat()}
        assert (await asyncio.to_thread(info, fg, **wider)).total_records == 13
