"""Skipped invalid bars are remembered per series and range: every answer covering them warns
`INVALID_BARS_SKIPPED` (REST, gRPC and Flight alike), and a refresh fetches them again."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pyarrow as pa
from pyarrow import flight

from tests.flight.conftest import running_flight
from tests.gateway.support import DAY, T0, RecordingProvider, request, running_gateway
from tests.rest.conftest import running_rest
from timebase.gateway.bar_warnings import WARNINGS_METADATA_KEY


class DirtyProvider(RecordingProvider):
    """Sends the bars starting at `dirty` with high below low (the SDK skips and reports them)."""

    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.dirty: set[datetime] = set()

    def _batch(self, stamps: list[int]) -> pa.RecordBatch:
        batch = super()._batch(stamps)
        bad = {int(ts.timestamp()) * 1_000_000 for ts in self.dirty}
        low = batch.column("low").to_pylist()
        high = [
            lo - 1.0 if ts in bad else h
            for ts, h, lo in zip(stamps, batch.column("high").to_pylist(), low, strict=True)
        ]
        return batch.set_column(batch.schema.get_field_index("high"), "high", pa.array(high))


SKIPPED_TEXT = (
    "2 invalid bars from 'alpha' were skipped in "
    "[2024-01-01T00:00:00+00:00, 2024-01-11T00:00:00+00:00) "
    "(provider: skipped 2 invalid bar(s): 2 high/low inconsistent with open/close); "
    "a refresh fetches them again"
)
SKIPPED = {
    "code": "INVALID_BARS_SKIPPED",
    "message": SKIPPED_TEXT,
    "provider": "alpha",
    "start": "2024-01-01T00:00:00+00:00",
    "end": "2024-01-11T00:00:00+00:00",
    "count": 2,
}
TEN_DAYS = "interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-11T00:00:00Z"


def dirty_alpha() -> DirtyProvider:
    alpha = DirtyProvider("alpha")
    alpha.dirty = {T0 + 2 * DAY, T0 + 5 * DAY}
    return alpha


async def test_rest_every_answer_covering_skipped_bars_warns_until_a_refresh_brings_them(
    fresh_database_url: str,
) -> None:
    alpha = dirty_alpha()
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, _ = await rest.get(f"/api/data/SYN:A?{TEN_DAYS}")
        assert status == 200, body
        assert body["data"]["count"] == 8
        assert body["data"]["warnings"] == [SKIPPED]

        # Served from the store: the hole is still there, and still said.
        for path in (
            f"/api/data/SYN:A?{TEN_DAYS}",
            f"/api/providers/alpha/data/SYN:A?{TEN_DAYS}",
            "/api/data/SYN:A?interval=1d&start=2024-01-06T00:00:00Z&end=2024-01-08T00:00:00Z",
        ):
            status, body, _ = await rest.get(path)
            assert status == 200, body
            assert body["data"]["warnings"] == [SKIPPED], path
        assert len(alpha.requests) == 1

        # A range that does not cover them does not warn.
        status, body, _ = await rest.get(
            "/api/data/SYN:A?interval=1d&start=2024-01-11T00:00:00Z&end=2024-01-14T00:00:00Z"
        )
        assert (status, body["data"]["count"], body["data"]["warnings"]) == (200, 3, [])

        # A refresh while the provider still sends them: still remembered.
        status, body, _ = await rest.get(f"/api/data/SYN:A?{TEN_DAYS}&refresh=true")
        assert (status, body["data"]["count"], body["data"]["warnings"]) == (200, 8, [SKIPPED])

        # The provider now sends valid bars: a refresh fetches them and forgets the hole.
        alpha.dirty = set()
        status, body, _ = await rest.get(f"/api/data/SYN:A?{TEN_DAYS}&refresh=true")
        assert (status, body["data"]["count"], body["data"]["warnings"]) == (200, 10, [])
        status, body, _ = await rest.get(f"/api/data/SYN:A?{TEN_DAYS}")
        assert (status, body["data"]["count"], body["data"]["warnings"]) == (200, 10, [])
        assert len(alpha.requests) == 4


async def test_grpc_warns_in_trailing_metadata_on_every_answer(fresh_database_url: str) -> None:
    alpha = dirty_alpha()
    async with running_gateway(fresh_database_url, alpha) as gw:
        req = request("SYN:A", "1d", T0, T0 + 10 * DAY)
        for _ in range(2):
            call = gw.data.GetHistoricalBars(req)
            chunks = [c async for c in call]
            assert sum(len(c.timestamps_us) for c in chunks) == 8
            trailing = dict(await call.trailing_metadata())
            assert json.loads(trailing[WARNINGS_METADATA_KEY]) == [SKIPPED]
        assert len(alpha.requests) == 1


def _info(location: str, query: dict[str, Any]) -> flight.FlightInfo:
    client = flight.connect(location)
    try:
        return client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))
    finally:
        client.close()


async def test_flight_warns_in_flight_info_metadata_on_every_answer(
    fresh_database_url: str,
) -> None:
    alpha = dirty_alpha()
    async with running_flight(fresh_database_url, alpha) as fg:
        query = {"symbol": "SYN:A", "interval": "1d", "start": "2024-01-01", "end": "2024-01-11"}
        for _ in range(2):
            info = await asyncio.to_thread(_info, fg.location, query)
            assert info.total_records == 8
            assert json.loads(info.app_metadata) == [SKIPPED]
        assert len(alpha.requests) == 1
