"""Limits before work on Flight (issue 12): symbols per query, bars per symbol, dates, and
cancelled calls that stop their fetch and give their database connection back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.support import RecordingProvider
from tests.rest.test_limits import CancelRecordingProvider
from tests.support.eventually import eventually
from timebase.client.errors import flight_error_info

pytestmark = pytest.mark.asyncio


def descriptor(**query: Any) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(json.dumps(query))


def refusal(fg: FlightGateway, **query: Any) -> tuple[str, dict[str, Any]]:
    """The error class name and TimeBase error of get_flight_info(query) (blocking)."""
    client = fg.client()
    try:
        with pytest.raises((flight.FlightError, pa.ArrowException)) as err:
            client.get_flight_info(descriptor(**query))
        info = flight_error_info(err.value)
        assert info is not None
        return type(err.value).__name__, info
    finally:
        client.close()


async def test_a_query_of_101_symbols_is_refused_before_any_fetch(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_flight(fresh_database_url, alpha) as fg:
        symbols = [f"SYN:S{i}" for i in range(101)]
        name, info = await asyncio.to_thread(
            refusal, fg, symbols=symbols, interval="1d", start="2024-01-01", end="2024-02-01"
        )
        assert name == "ArrowInvalid"  # gRPC INVALID_ARGUMENT
        assert info["code"] == "INVALID_REQUEST"
        assert info["message"] == (
            "symbols: 101 symbols, more than the 100 one query may name (flight.max_symbols): "
            "split the query into several"
        )
        assert alpha.requests == []


async def test_the_flight_limits_are_configurable(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1h"])
    async with running_flight(fresh_database_url, alpha, max_bars=24, max_symbols=2) as fg:
        _, info = await asyncio.to_thread(
            refusal, fg, symbol="SYN:A", interval="1h", start="2024-01-01", end="2024-01-02T01:00"
        )
        assert info["code"] == "INVALID_TIME_RANGE"
        assert info["message"] == (
            "end: [2024-01-01T00:00:00+00:00, 2024-01-02T01:00:00+00:00) holds up to 25 1h bars, "
            "more than the 24 one symbol of a Flight query may hold (flight.max_bars): ask for a "
            "shorter range or a coarser interval, or split the query by time"
        )
        _, info = await asyncio.to_thread(
            refusal, fg, symbols=["SYN:A", "SYN:B", "SYN:C"], interval="1h", start="2024-01-01"
        )
        assert info["message"].startswith("symbols: 3 symbols, more than the 2 one query may")
        assert alpha.requests == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("0001-01-01", "2024-01-01", "start: 0001-01-01T00:00:00+00:00 is out of range"),
        ("0001-01-01T00:00:00+05:00", None, "start: 0001-01-01T00:00:00+05:00 is out of range"),
        ("2024-01-01", "9999-12-31", "end: 9999-12-31T00:00:00+00:00 is out of range"),
    ],
)
async def test_dates_outside_1900_to_2200_are_refused(fresh_database_url, start, end, message):
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_flight(fresh_database_url, alpha) as fg:
        query = {"symbol": "SYN:A", "interval": "1d", "start": start}
        if end is not None:
            query["end"] = end
        _, info = await asyncio.to_thread(refusal, fg, **query)
        assert info["code"] == "INVALID_TIME_RANGE"
        assert info["message"] == (
            f"{message}; dates from 1900-01-01 to 2200-01-01 (UTC) are accepted"
        )
        assert alpha.requests == []


async def test_a_cancelled_get_flight_info_stops_its_fetch(fresh_database_url):
    alpha = CancelRecordingProvider("alpha", intervals=["1h"])
    alpha.hang_after = 5
    async with running_flight(fresh_database_url, alpha) as fg:
        fetcher = fg.gateway.history.fetcher

        def plan_with_deadline() -> None:
            client = fg.client()
            try:
                options = flight.FlightCallOptions(timeout=1.0)
                query = descriptor(
                    symbol="SYN:A", interval="1h", start="2024-01-01", end="2024-01-03"
                )
                with pytest.raises(flight.FlightTimedOutError):
                    client.get_flight_info(query, options)
            finally:
                client.close()

        await asyncio.to_thread(plan_with_deadline)
        await asyncio.wait_for(alpha.cancelled.wait(), 10)
        store = fg.gateway.store
        await eventually(lambda: store.pool.in_use == 0, what="the connections back in the pool")
        await eventually(lambda: fetcher.limiter.running == 0, what="the fetch slot back")
        assert fetcher.bars_received == 5


async def test_a_cancelled_do_get_gives_its_connection_back(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1m"])
    async with running_flight(fresh_database_url, alpha) as fg:
        store = fg.gateway.store
        # More bars than the driver sends in one batch (~16 MB): the stream has several.
        query = descriptor(symbol="SYN:A", interval="1m", start="2024-01-01", end="2024-09-01")
        client = fg.client()
        try:
            info = await asyncio.to_thread(client.get_flight_info, query)
            reader = await asyncio.to_thread(client.do_get, info.endpoints[0].ticket)
            first = await asyncio.to_thread(reader.read_chunk)
            assert 0 < first.data.num_rows < 351_360
            assert store.pool.in_use == 1  # mid-stream: the read holds its connection
            await asyncio.to_thread(reader.cancel)
            await eventually(lambda: store.pool.in_use == 0, what="the connection back")
        finally:
            await asyncio.to_thread(client.close)
