"""adjust=none|splits|all and the events through every door (REST, gRPC, Flight, the Python
client, the CLI), on exact values, against a real database; bad values are refused with the
same message everywhere."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.gateway.support import RecordingProvider
from tests.rest.conftest import Rest, running_rest
from timebase.client import InvalidRequest, TimeBase
from timebase.flight import FlightServer
from timebase.gateway.query import QueryApi
from timebase.v1 import bars_pb2

T0 = datetime(2024, 1, 1, tzinfo=UTC)
START, END = "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z"
#: A 2-for-1 split on Jan 3, a dividend of 16 on Jan 5 (previous close 64: factor 0.75).
CLOSES = [100.0, 104.0, 52.0, 64.0, 60.0, 62.0]
METADATA = {2: '{"split":"2"}', 4: '{"dividend":"16"}'}
RAW = {"none": CLOSES, "splits": [50.0, 52.0, 52.0, 64.0, 60.0, 62.0],
       "all": [37.5, 39.0, 39.0, 48.0, 60.0, 62.0]}  # fmt: skip
#: A provider whose prices already include splits: only dividends are applied.
SPLIT_ADJUSTED = {"none": CLOSES, "splits": CLOSES, "all": [75.0, 78.0, 39.0, 48.0, 60.0, 62.0]}
VOLUMES = {"none": [1000.0] * 6, "splits": [2000.0, 2000.0] + [1000.0] * 4}
VOLUMES["all"] = VOLUMES["splits"]
BAD = "adjust: unknown value 'dividends'; valid values: none, splits, all"
EVENTS = [
    {"timestamp": "2024-01-03T00:00:00Z", "provider": "raw", "kind": "split", "value": 2.0},
    {"timestamp": "2024-01-05T00:00:00Z", "provider": "raw", "kind": "dividend", "value": 16.0},
]


class EventfulProvider(RecordingProvider):
    """Six daily bars of ACME from Jan 1, 2024 with a split and a dividend in their metadata."""

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        self.requests.append((symbol, interval, start, end))
        days = [i for i in range(len(CLOSES)) if start <= T0 + timedelta(days=i) < end]
        if days:
            yield pa.RecordBatch.from_pydict(
                {
                    "timestamp": pa.array(
                        [T0 + timedelta(days=i) for i in days], pa.timestamp("us", tz="UTC")
                    ),
                    "open": [CLOSES[i] - 1 for i in days],
                    "high": [CLOSES[i] + 2 for i in days],
                    "low": [CLOSES[i] - 2 for i in days],
                    "close": [CLOSES[i] for i in days],
                    "volume": [1000.0 for _ in days],
                    "metadata": pa.array([METADATA.get(i) for i in days], pa.string()),
                }
            )


def providers() -> tuple[EventfulProvider, EventfulProvider]:
    return (
        EventfulProvider("raw", ["1d"]),
        EventfulProvider("yahooish", ["1d"], prices_adjusted_for=["splits"]),
    )


class Doors:
    def __init__(self, rest: Rest, flight_server: FlightServer) -> None:
        self.rest = rest
        self.flight = flight_server

    def client(self) -> TimeBase:
        return TimeBase(
            "127.0.0.1",
            grpc_port=self.rest.gw.server.port or 0,
            flight_port=self.flight.port or 0,
        )

    async def rest_bars(self, provider: str, adjust: str) -> list[dict[str, Any]]:
        status, body, _ = await self.rest.get(
            f"/api/providers/{provider}/data/ACME?interval=1d&start={START}&end={END}"
            f"&adjust={adjust}"
        )
        assert status == 200, body
        bars: list[dict[str, Any]] = body["data"]["data"]
        return bars

    async def grpc_bars(self, provider: str, adjust: str) -> list[tuple[float, float]]:
        request = bars_pb2.GetBarsRequest(
            symbol="ACME", interval="1d", provider=provider, adjust=adjust
        )
        request.start_time.FromDatetime(T0)
        request.end_time.FromDatetime(T0 + timedelta(days=6))
        chunks = [c async for c in self.rest.gw.v1.GetBars(request, timeout=30)]
        return [(c, v) for ch in chunks for c, v in zip(ch.close, ch.volume, strict=True)]

    def flight_table(self, provider: str, adjust: str) -> pa.Table:
        client = flight.connect(f"grpc://127.0.0.1:{self.flight.port}")
        try:
            command = {"symbol": "ACME", "interval": "1d", "start": START, "end": END}
            command.update(provider=provider, adjust=adjust)
            info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command)))
            return pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints])
        finally:
            client.close()


@pytest.fixture
async def doors(database_url: str) -> AsyncIterator[Doors]:
    async with running_rest(database_url, *providers()) as rest:
        server = FlightServer("127.0.0.1", 0)
        server.attach(QueryApi(rest.gw.history))
        await server.start()
        try:
            yield Doors(rest, server)
        finally:
            await server.stop()


EXPECTED = [("raw", RAW), ("yahooish", SPLIT_ADJUSTED)]


@pytest.mark.parametrize(("provider", "closes"), EXPECTED)
async def test_rest_grpc_and_flight_adjust_exactly_once(
    doors: Doors, provider: str, closes: dict[str, list[float]]
) -> None:
    for adjust in ("none", "splits", "all"):
        volumes = VOLUMES[adjust] if provider == "raw" else VOLUMES["none"]
        rest = await doors.rest_bars(provider, adjust)
        assert [b["close"] for b in rest] == closes[adjust], adjust
        assert [b["volume"] for b in rest] == volumes, adjust
        assert await doors.grpc_bars(provider, adjust) == list(
            zip(closes[adjust], volumes, strict=True)
        )
        table = await asyncio.to_thread(doors.flight_table, provider, adjust)
        assert table.column("close").to_pylist() == closes[adjust], adjust
        assert table.column("volume").to_pylist() == volumes, adjust
    # The stored bars are untouched: what `none` reads is what the provider sent.
    assert [b["close"] for b in await doors.rest_bars(provider, "none")] == CLOSES
    assert len(doors.rest.gw.providers[provider].requests) == 1  # fetched once, adjusted after


async def test_rest_open_and_high_and_the_original_proto_metadata(doors: Doors) -> None:
    rest = await doors.rest_bars("raw", "all")
    assert [b["open"] for b in rest] == [37.125, 38.625, 38.25, 47.25, 59.0, 61.0]
    assert [b["high"] for b in rest] == [38.25, 39.75, 40.5, 49.5, 62.0, 64.0]
    request = bars_pb2.GetBarsRequest(symbol="ACME", interval="1d", provider="raw")
    request.start_time.FromDatetime(T0)
    request.end_time.FromDatetime(T0 + timedelta(days=6))
    from tests.gateway.support import request as provider_request

    old = provider_request("ACME", "1d", T0, T0 + timedelta(days=6), provider="raw")
    got = [
        m.close
        async for m in doors.rest.gw.data.GetHistoricalData(
            old, metadata=(("x-timebase-adjust", "splits"),), timeout=30
        )
    ]
    assert got == RAW["splits"]


async def test_client_and_cli_adjust(doors: Doors) -> None:
    def through_client() -> tuple[list[float], list[float]]:
        with doors.client() as tb:
            table = tb.history("ACME", "1d", "2024-01-01", "2024-01-06", provider="raw",
                               adjust="all")  # fmt: skip
            events = tb.events("ACME", "2024-01-01", "2024-01-06", provider="raw")
            with pytest.raises(InvalidRequest) as info:
                tb.history("ACME", "1d", "2024-01-01", adjust="dividends")
            assert BAD in str(info.value)
        return table.column("close").to_pylist(), events.column("value").to_pylist()

    closes, values = await asyncio.to_thread(through_client)
    assert closes == RAW["all"]
    assert values == [2.0, 16.0]

    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env.update(
        TIMEBASE_GRPC_PORT=str(doors.rest.gw.server.port),
        TIMEBASE_FLIGHT_PORT=str(doors.flight.port),
        TIMEBASE_LOG_LEVEL="ERROR",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "timebase.cli.main", "get", "ACME", "-i", "1d",
        "--start", "2024-01-01", "--end", "2024-01-06", "--provider", "raw",
        "--adjust", "splits", "--format", "json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    rows = json.loads(out)
    assert [r["close"] for r in rows] == RAW["splits"]
    assert [r["volume"] for r in rows] == VOLUMES["splits"]

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "timebase.cli.main", "get", "ACME", "-i", "1d",
        "--start", "2024-01-01", "--adjust", "dividends",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    # argparse's wording of the choices varies across Python versions; the start does not.
    assert "argument --adjust: invalid choice: 'dividends'" in err.decode()


async def test_events_through_every_door(doors: Doors) -> None:
    status, body, _ = await doors.rest.get(
        "/api/data/ACME/events?start=2024-01-01&end=2024-01-06&provider=raw"
    )
    assert status == 200, body
    assert body["data"] == {
        "symbol": "ACME", "interval": "1d", "count": 2, "events": EVENTS, "warnings": [],
    }  # fmt: skip
    status, body, _ = await doors.rest.get("/api/data/ACME/events?start=2024-01-04&end=2024-01-04")
    assert status == 200, body
    assert body["data"]["events"] == []

    request = bars_pb2.GetEventsRequest(symbol="acme", provider="raw")
    request.start_time.FromDatetime(T0)
    request.end_time.FromDatetime(T0 + timedelta(days=6))
    reply = await doors.rest.gw.v1.GetEvents(request, timeout=30)
    assert (reply.symbol, reply.interval) == ("ACME", "1d")
    assert [
        (e.timestamp.ToDatetime(tzinfo=UTC), e.provider, e.kind, e.value) for e in reply.events
    ] == [
        (T0 + timedelta(days=2), "raw", "split", 2.0),
        (T0 + timedelta(days=4), "raw", "dividend", 16.0),
    ]

    def action() -> pa.Table:
        client = flight.connect(f"grpc://127.0.0.1:{doors.flight.port}")
        try:
            body = json.dumps({"symbol": "ACME", "start": START, "end": END, "provider": "raw"})
            results = list(client.do_action(flight.Action("events", body.encode())))
            return pa.ipc.open_stream(results[0].body).read_all()
        finally:
            client.close()

    table = await asyncio.to_thread(action)
    assert table.column("kind").to_pylist() == ["split", "dividend"]
    assert table.column("value").to_pylist() == [2.0, 16.0]


async def test_bad_adjust_is_refused_with_the_same_message_everywhere(doors: Doors) -> None:
    for path in (
        f"/api/data/ACME?interval=1d&start={START}&adjust=dividends",
        f"/api/providers/raw/data/ACME?interval=1d&start={START}&adjust=dividends",
    ):
        status, body, _ = await doors.rest.get(path)
        assert status == 400
        assert body["error"]["code"] == "INVALID_REQUEST"
        assert body["error"]["message"] == BAD
    status, body, _ = await doors.rest.get(f"/api/data/ACME?interval=1d&start={START}&adjust=")
    assert status == 400
    assert body["error"]["message"] == ("adjust: unknown value ''; valid values: none, splits, all")

    request = bars_pb2.GetBarsRequest(symbol="ACME", interval="1d", adjust="dividends")
    request.start_time.FromDatetime(T0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        _ = [c async for c in doors.rest.gw.v1.GetBars(request, timeout=30)]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == BAD

    def flight_error() -> str:
        with pytest.raises(pa.ArrowInvalid) as err:
            doors.flight_table("raw", "dividends")
        return str(err.value)

    assert BAD in await asyncio.to_thread(flight_error)
    assert doors.rest.gw.providers["raw"].requests == []  # refused before any work
