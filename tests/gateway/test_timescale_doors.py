"""Compressed TimescaleDB chunks through every door: gRPC, Flight and REST read them exactly as
they read uncompressed ones, and a late correction into a compressed chunk comes back out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.conftest import DatabaseServers, create_database, drop_database
from tests.gateway.support import RecordingProvider, bar_values
from tests.rest.conftest import Rest, running_rest
from tests.store.conftest import bars_table
from timebase.flight import FlightServer
from timebase.gateway.query import QueryApi
from timebase.v1 import bars_pb2

pytestmark = pytest.mark.timescale

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
END = datetime(2024, 2, 12, tzinfo=UTC)  # six weeks of hourly bars
LATE = END - timedelta(days=21)  # a bar three weeks old


@pytest.fixture
def timescale_url(database_servers: DatabaseServers) -> Iterator[str]:
    server = database_servers.url("timescaledb")
    url = create_database(server, prefix="doors")
    yield url
    drop_database(server, url)


class Doors:
    def __init__(self, rest: Rest, flight_server: FlightServer) -> None:
        self.rest = rest
        self.flight = flight_server

    async def grpc(self) -> list[tuple[Any, ...]]:
        request = bars_pb2.GetBarsRequest(symbol="ACME", interval="1h")
        request.start_time.FromDatetime(START)
        request.end_time.FromDatetime(END)
        chunks = [c async for c in self.rest.gw.v1.GetBars(request, timeout=30)]
        return [
            (c.symbol, c.provider, t, o, h, lo, cl, v)
            for c in chunks
            for t, o, h, lo, cl, v in zip(
                c.timestamps_us, c.open, c.high, c.low, c.close, c.volume, strict=True
            )
        ]

    async def flight_table(self) -> pa.Table:
        def read() -> pa.Table:
            client = flight.connect(f"grpc://127.0.0.1:{self.flight.port}")
            try:
                command = {
                    "symbol": "ACME",
                    "interval": "1h",
                    "start": START.isoformat(),
                    "end": END.isoformat(),
                }
                info = client.get_flight_info(
                    flight.FlightDescriptor.for_command(json.dumps(command))
                )
                return pa.concat_tables(
                    [client.do_get(e.ticket).read_all() for e in info.endpoints]
                )
            finally:
                client.close()

        return await asyncio.to_thread(read)

    async def rest_bars(self) -> list[dict[str, Any]]:
        status, body, _ = await self.rest.get(
            "/api/data/ACME?interval=1h&start=2024-01-01T00:00:00Z&end=2024-02-12T00:00:00Z"
        )
        assert status == 200, body
        bars: list[dict[str, Any]] = body["data"]["data"]
        return bars

    async def all(self) -> tuple[list[tuple[Any, ...]], pa.Table, list[dict[str, Any]]]:
        return await self.grpc(), await self.flight_table(), await self.rest_bars()


async def _doors(url: str, provider: RecordingProvider) -> AsyncIterator[Doors]:
    async with running_rest(url, provider) as rest:
        server = FlightServer("127.0.0.1", 0)
        server.attach(QueryApi(rest.gw.history))
        await server.start()
        try:
            yield Doors(rest, server)
        finally:
            await server.stop()


async def _sql(rest: Rest, sql: str) -> list[tuple[Any, ...]]:
    def run(conn: Any) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    return await rest.gw.store.pool.run(run)


async def test_compressed_chunks_read_the_same_through_every_door_and_take_a_correction(
    timescale_url: str,
) -> None:
    alpha = RecordingProvider("alpha")
    hours = int((END - START) / timedelta(hours=1))
    async for doors in _doors(timescale_url, alpha):
        grpc_rows, table, rest_bars = await doors.all()  # fetched and stored, then read
        assert len(grpc_rows) == table.num_rows == len(rest_bars) == hours == 1008
        first_us = int(START.timestamp()) * 1_000_000
        assert grpc_rows[0] == ("ACME", "alpha", first_us, *bar_values(100.0, first_us))
        requests = len(alpha.requests)

        compressed = await _sql(
            doors.rest,
            "SELECT count(compress_chunk(c)) FROM show_chunks('bars_intraday') c",
        )
        assert compressed == [(7,)]  # chunks start on Thursdays (aligned to the epoch)
        assert await _sql(
            doors.rest,
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'bars_intraday' AND NOT is_compressed",
        ) == [(0,)]

        assert await doors.all() == (grpc_rows, table, rest_bars)
        assert len(alpha.requests) == requests  # served from the compressed store

        # A late correction (an upsert of a three-week-old bar) into a compressed chunk.
        fixed = bars_table([LATE], symbol="ACME", interval="1h", provider="alpha", close=[42.5])
        assert await doors.rest.gw.store.upsert(fixed) == 1
        index = int((LATE - START) / timedelta(hours=1))
        grpc_after, table_after, rest_after = await doors.all()
        assert len(grpc_after) == table_after.num_rows == len(rest_after) == 1008
        assert grpc_after[index][6] == 42.5
        assert table_after["close"][index].as_py() == 42.5
        assert rest_after[index]["close"] == 42.5
        assert rest_after[index]["timestamp"] == "2024-01-22T00:00:00Z"
        # Everything else is unchanged.
        assert grpc_after[:index] + grpc_after[index + 1 :] == (
            grpc_rows[:index] + grpc_rows[index + 1 :]
        )
