"""A large range is split by time into endpoints, each streamed on its own connection."""

from __future__ import annotations

import asyncio
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.support import RecordingProvider
from timebase.flight.tickets import decode_ticket
from timebase.gateway.bar_request import build_request

pytestmark = pytest.mark.asyncio

START = datetime(2024, 1, 1, tzinfo=UTC)
END = START + timedelta(days=100)


def _read_parallel(fg: FlightGateway, query: dict[str, Any]) -> tuple[flight.FlightInfo, pa.Table]:
    """get_flight_info, then every endpoint read at once, each by its own client."""
    client = fg.client()
    try:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))
    finally:
        client.close()

    def read(endpoint: flight.FlightEndpoint) -> pa.Table:
        own = fg.client()
        try:
            return own.do_get(endpoint.ticket).read_all()
        finally:
            own.close()

    with ThreadPoolExecutor(4) as pool:
        tables = list(pool.map(read, info.endpoints))
    return info, pa.concat_tables(tables)


async def test_a_long_range_is_split_into_consecutive_endpoints(fresh_database_url: str) -> None:
    async with running_flight(
        fresh_database_url, RecordingProvider("alpha"), endpoint_bars=30
    ) as fg:
        query = {
            "symbols": ["ACME", "BETA"],
            "interval": "1d",
            "start": START.isoformat(),
            "end": END.isoformat(),
        }
        info, table = await asyncio.to_thread(_read_parallel, fg, query)
        plans = [decode_ticket(e.ticket.ticket) for e in info.endpoints]
        # 100 days of 1d bars in parts of at most 30: 4 consecutive endpoints per symbol.
        assert [p.symbol for p in plans] == ["ACME"] * 4 + ["BETA"] * 4
        for symbol in ("ACME", "BETA"):
            mine = [p for p in plans if p.symbol == symbol]
            assert mine[0].start == START
            assert mine[-1].end == END
            assert all(a.end == b.start for a, b in itertools.pairwise(mine))
        assert info.total_records == table.num_rows == 200
        # The same rows, in the same order, as the core's answer for each symbol.
        answers = [
            await fg.gateway.history.get(
                build_request(symbol=s, interval="1d", start=START, end=END)
            )
            for s in ("ACME", "BETA")
        ]
        assert table.equals(pa.concat_tables([a.table for a in answers]))


async def test_a_short_range_and_a_derived_interval_stay_one_endpoint(
    fresh_database_url: str,
) -> None:
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_flight(fresh_database_url, alpha, endpoint_bars=5) as fg:
        # 14 weekly bars built from daily ones: aggregated whole, never split.
        for interval, end, endpoints in (("1d", START + timedelta(days=5), 1), ("1wk", END, 1)):
            query = {
                "symbol": "ACME",
                "interval": interval,
                "start": START.isoformat(),
                "end": end.isoformat(),
            }
            info, table = await asyncio.to_thread(_read_parallel, fg, query)
            assert len(info.endpoints) == endpoints, interval
            assert table.num_rows == info.total_records
