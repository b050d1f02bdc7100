"""Compressed TimescaleDB chunks through every door: gRPC (GetBars and the provider contract's
GetHistoricalData), Flight, the Python client and REST read them exactly as they read
uncompressed ones, and late corrections into compressed chunks (a scaled-integer price and a
float8 one) come back out bit for bit."""

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
from tests.gateway.support import RecordingProvider, bar_values, request
from tests.rest.conftest import Rest, running_rest
from tests.store.conftest import bars_table, compress_chunks
from timebase.client import TimeBase
from timebase.flight import FlightServer
from timebase.gateway.query import QueryApi
from timebase.v1 import bars_pb2

pytestmark = pytest.mark.timescale

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
END = datetime(2024, 2, 12, tzinfo=UTC)  # six weeks of hourly bars
LATE = END - timedelta(days=21)  # a bar three weeks old
OLDER = LATE - timedelta(days=7)
#: float32(187.33) as a float8: no scaled integer of at most 8 decimals is exactly it.
ARTEFACT = 187.3300018310547


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

    async def provider_grpc(self) -> list[tuple[Any, ...]]:
        """The original provider contract's per-bar stream, on the gateway."""
        messages = self.rest.gw.data.GetHistoricalData(
            request("ACME", "1h", START, END), timeout=30
        )
        return [
            (m.symbol, m.provider, m.timestamp.ToMicroseconds(), m.open, m.high, m.low, m.close,
             m.volume)
            async for m in messages
        ]  # fmt: skip

    async def client_table(self) -> pa.Table:
        """The Python client's history (Flight, planned over gRPC)."""

        def read() -> pa.Table:
            grpc_port, flight_port = self.rest.gw.server.port or 0, self.flight.port or 0
            with TimeBase("127.0.0.1", grpc_port=grpc_port, flight_port=flight_port) as tb:
                return tb.history("ACME", "1h", START.isoformat(), END.isoformat())

        return await asyncio.to_thread(read)

    async def all(self) -> tuple[list[tuple[Any, ...]], pa.Table, list[dict[str, Any]]]:
        """gRPC (GetBars), Flight and REST; the provider contract's gRPC and the Python client
        are checked to answer the same rows."""
        grpc_rows = await self.grpc()
        assert await self.provider_grpc() == grpc_rows
        table = await self.flight_table()
        client = await self.client_table()
        assert client.select(table.column_names).equals(table.replace_schema_metadata(None))
        return grpc_rows, table, await self.rest_bars()


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

        # 7 chunks: they start on Thursdays (aligned to the epoch).
        assert await compress_chunks(doors.rest.gw.store) == 7
        assert await _sql(
            doors.rest,
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'bars_intraday' AND NOT is_compressed",
        ) == [(0,)]

        assert await doors.all() == (grpc_rows, table, rest_bars)
        assert len(alpha.requests) == requests  # served from the compressed store

        # Late corrections (upserts of bars three and four weeks old) into compressed chunks: one
        # price stored as a scaled integer, one that is not exact as one (a float32 artefact,
        # kept as float8), each read back bit for bit.
        fixed = bars_table(
            [OLDER, LATE], symbol="ACME", interval="1h", provider="alpha", close=[ARTEFACT, 42.5]
        )
        assert await doors.rest.gw.store.upsert(fixed) == 2
        assert await _sql(
            doors.rest,
            "SELECT ts::text, price_scale FROM bars_intraday WHERE ts IN "
            "('2024-01-15T00:00:00Z', '2024-01-22T00:00:00Z') ORDER BY ts",
        ) == [("2024-01-15 00:00:00+00", None), ("2024-01-22 00:00:00+00", 1)]
        index = int((LATE - START) / timedelta(hours=1))
        older = int((OLDER - START) / timedelta(hours=1))
        grpc_after, table_after, rest_after = await doors.all()
        assert len(grpc_after) == table_after.num_rows == len(rest_after) == 1008
        for i, close, stamp in (
            (index, 42.5, "2024-01-22T00:00:00Z"),
            (older, ARTEFACT, "2024-01-15T00:00:00Z"),
        ):
            assert grpc_after[i][6] == close
            assert table_after["close"][i].as_py() == close
            assert rest_after[i]["close"] == close
            assert rest_after[i]["timestamp"] == stamp
        # Everything else is unchanged.
        changed = {index, older}
        assert [r for i, r in enumerate(grpc_after) if i not in changed] == [
            r for i, r in enumerate(grpc_rows) if i not in changed
        ]
