"""Arrow Flight: info → get round trips, multi-symbol, cached_only, do_put, list_flights, errors."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.support import DAY, T0, RecordingProvider, bar_values
from timebase.client.errors import flight_error_info
from timebase.core.config import RoutingConfig
from timebase.gateway.bar_request import build_request
from timebase.sdk.intervals import Interval
from timebase.store import BAR_SCHEMA, BarQuery, counting

pytestmark = pytest.mark.asyncio

#: pandas ships no type stubs here; the tests use it untyped.
pd: Any = importlib.import_module("pandas")


def _us(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000


def descriptor(**query: Any) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(json.dumps(query))


def read(fg: FlightGateway, **query: Any) -> tuple[flight.FlightInfo, pa.Table]:
    """get_flight_info, then every endpoint read (blocking: run in a thread)."""
    client = fg.client()
    try:
        info = client.get_flight_info(descriptor(**query))
        tables = [client.do_get(e.ticket).read_all() for e in info.endpoints]
        table = pa.concat_tables(tables) if tables else info.schema.empty_table()
        return info, table
    finally:
        client.close()


def expected_daily(symbol: str, start: datetime, days: int, base: float = 100.0) -> pd.DataFrame:
    rows = []
    for i in range(days):
        ts = start + i * DAY
        o, h, lo, c, v = bar_values(base, _us(ts))
        rows.append(
            {
                "symbol": symbol,
                "timestamp": pd.Timestamp(ts),
                "open": o,
                "high": h,
                "low": lo,
                "close": c,
                "volume": v,
                "interval": "1d",
                "provider": "alpha",
                "metadata": None,
            }
        )
    frame = pd.DataFrame(rows)
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    frame["metadata"] = frame["metadata"].astype("str")
    return frame


async def test_round_trip_into_pandas_and_polars(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha")
    async with running_flight(fresh_database_url, alpha) as fg:
        query = {
            "symbol": "acme",
            "interval": "1d",
            "start": T0.isoformat(),
            "end": (T0 + 10 * DAY).isoformat(),
        }
        info, table = await asyncio.to_thread(read, fg, **query)
        assert info.schema == BAR_SCHEMA
        assert table.schema == BAR_SCHEMA
        assert info.total_records == 10
        assert len(info.endpoints) == 1
        assert json.loads(info.app_metadata) == []

        frame = table.to_pandas()
        pd.testing.assert_frame_equal(frame, expected_daily("ACME", T0, 10))
        assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
        assert frame["close"].dtype == "float64"

        polars_frame = pl.from_arrow(table)
        assert isinstance(polars_frame, pl.DataFrame)
        assert polars_frame.height == 10
        assert polars_frame["close"].to_list() == list(expected_daily("ACME", T0, 10)["close"])
        assert str(polars_frame.schema["timestamp"]) == "Datetime(time_unit='us', time_zone='UTC')"

        # warm: served from the store, identical rows, no new upstream request
        requests = len(alpha.requests)
        _, again = await asyncio.to_thread(read, fg, **query)
        assert again.equals(table)
        assert len(alpha.requests) == requests


async def test_multi_symbol_one_endpoint_each_sorted(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url, RecordingProvider("alpha")) as fg:
        info, table = await asyncio.to_thread(
            read,
            fg,
            symbols=["msft", "AAPL", "msft"],
            interval="1d",
            start="2024-01-01",
            end="2024-01-06T00:00:00Z",
        )
        assert len(info.endpoints) == 2
        assert info.total_records == 10
        frame = table.to_pandas()
        expected = pd.concat(
            [expected_daily("AAPL", T0, 5), expected_daily("MSFT", T0, 5)], ignore_index=True
        )
        pd.testing.assert_frame_equal(frame, expected)


async def test_provider_aware_and_sticky_symbol_centric(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha", base=100.0)
    beta = RecordingProvider("beta", base=500.0)
    # alpha first: without the sticky rule a symbol-centric read would be served from alpha.
    routing = RoutingConfig(priorities={"alpha": 1, "beta": 2}, backoff_seconds=0.01, retries=1)
    async with running_flight(fresh_database_url, alpha, beta, routing=routing) as fg:
        query = {"symbol": "ACME", "interval": "1d", "start": "2024-01-01", "end": "2024-01-08"}
        _, beta_table = await asyncio.to_thread(read, fg, provider="beta", **query)
        expected = expected_daily("ACME", T0, 7, base=500.0).assign(provider="beta")
        pd.testing.assert_frame_equal(beta_table.to_pandas(), expected)
        assert beta.requests == [("ACME", "1d", T0, T0 + 7 * DAY)]
        assert alpha.requests == []
        # Symbol-centric: alpha is the preferred provider, but the range beta fetched is served
        # from beta's stored bars (sticky), without asking any provider again.
        info, table = await asyncio.to_thread(read, fg, **query)
        pd.testing.assert_frame_equal(table.to_pandas(), expected)
        assert info.total_records == 7
        assert alpha.requests == []
        assert len(beta.requests) == 1


async def test_cached_only_on_an_empty_store(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha")
    async with running_flight(fresh_database_url, alpha) as fg:
        info, table = await asyncio.to_thread(
            read,
            fg,
            symbols=["AAPL", "MSFT"],
            interval="1h",
            start="2024-01-01",
            end="2024-02-01",
            cached_only=True,
        )
        assert alpha.requests == []
        assert info.total_records == 0
        assert table.num_rows == 0
        assert table.schema == BAR_SCHEMA
        assert pl.from_arrow(table).is_empty()


def _bars(symbol: str, days: int, close: float = 10.0) -> pa.Table:
    stamps = [T0 + i * DAY for i in range(days)]
    return pa.table(
        {
            "symbol": [symbol] * days,
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "open": [close] * days,
            "high": [close + 1] * days,
            "low": [close - 1] * days,
            "close": [close] * days,
            "volume": [1000.0] * days,
        }
    )


def put(fg: FlightGateway, table: pa.Table, options: dict[str, Any] | None) -> dict[str, int]:
    client = fg.client()
    try:
        command = json.dumps(options) if options is not None else ""
        writer, meta = client.do_put(flight.FlightDescriptor.for_command(command), table.schema)
        writer.write_table(table)
        writer.done_writing()
        reply = meta.read()
        writer.close()
        assert reply is not None
        result: dict[str, int] = json.loads(reply.to_pybytes())
        return result
    finally:
        client.close()


async def test_do_put_idempotent_then_listed_and_queryable(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url) as fg:
        batch = _bars("vend", 5)
        options = {"provider": "my-vendor-dump", "interval": "1d"}
        first = await asyncio.to_thread(put, fg, batch, options)
        assert first == {"rows_received": 5, "rows_written": 5}
        second = await asyncio.to_thread(put, fg, batch, options)
        assert second == {"rows_received": 5, "rows_written": 0}
        stored = await fg.gateway.store.read_table("VEND", "1d", T0, T0 + 30 * DAY)
        assert stored.num_rows == 5
        assert set(stored["provider"].to_pylist()) == {"my-vendor-dump"}

        client = fg.client()
        try:
            infos = await asyncio.to_thread(lambda: list(client.list_flights()))
            filtered = await asyncio.to_thread(
                lambda: list(client.list_flights(json.dumps({"symbol": "vend"}).encode()))
            )
        finally:
            client.close()
        assert len(infos) == len(filtered) == 1

        def list_nul_symbol() -> None:
            with fg.client() as conn:
                list(conn.list_flights(json.dumps({"symbol": "V\u0000"}).encode()))

        # Found by tests/fuzz: the NUL reached the database (503 DATABASE_ERROR).
        with pytest.raises(pa.ArrowInvalid) as bad:
            await asyncio.to_thread(list_nul_symbol)
        assert flight_error_info(bad.value) == {
            "code": "INVALID_REQUEST",
            "message": "criteria.symbol: 'V\\x00' may contain only letters, digits and . - ^ = : _",
            "details": {"field": "criteria.symbol"},
        }
        meta = json.loads(infos[0].app_metadata)
        assert meta == {
            "symbol": "VEND",
            "interval": "1d",
            "provider": "my-vendor-dump",
            "rows": 5,
            "first": T0.isoformat(),
            "last": (T0 + 4 * DAY).isoformat(),
        }
        assert infos[0].total_records == 5
        listed = await asyncio.to_thread(_read_endpoints, fg, infos[0])
        assert listed.equals(stored)

        # provider-aware through the gateway core: served from the store, no add-on running
        _, table = await asyncio.to_thread(
            read,
            fg,
            symbol="VEND",
            interval="1d",
            start="2024-01-01",
            end="2024-01-31",
            provider="my-vendor-dump",
        )
        assert table.equals(stored)
        # the data set's own descriptor (cached_only) reads it back too
        command = json.loads(infos[0].descriptor.command)
        _, again = await asyncio.to_thread(read, fg, **command)
        assert again.equals(stored)


def _read_endpoints(fg: FlightGateway, info: flight.FlightInfo) -> pa.Table:
    client = fg.client()
    try:
        return pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints])
    finally:
        client.close()


async def test_do_put_columns_in_the_batch(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url) as fg:
        batch = _bars("ACME", 3)
        batch = batch.append_column("interval", pa.array(["1d"] * 3))
        batch = batch.append_column("provider", pa.array(["import-a"] * 3))
        assert await asyncio.to_thread(put, fg, batch, None) == {
            "rows_received": 3,
            "rows_written": 3,
        }


async def test_do_put_validated_whole(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url) as fg:
        batch = _bars("ACME", 5)
        high = batch["high"].to_pylist()
        high[3] = 1.0  # below low
        batch = batch.set_column(3, "high", pa.array(high))
        with pytest.raises(pa.ArrowInvalid) as caught:
            await asyncio.to_thread(put, fg, batch, {"provider": "imp", "interval": "1d"})
        message = str(caught.value)
        assert "row 3, column 'high'" in message
        assert "Traceback" not in message
        info = flight_error_info(caught.value)
        assert info is not None
        assert info["code"] == "INVALID_DATA"
        assert info["details"]["row"] == 3
        assert await fg.gateway.store.datasets() == []

        with pytest.raises(pa.ArrowInvalid, match="missing column 'provider'"):
            await asyncio.to_thread(put, fg, _bars("ACME", 2), {"interval": "1d"})
        with pytest.raises(pa.ArrowInvalid, match="unknown interval"):
            await asyncio.to_thread(put, fg, _bars("ACME", 2), {"provider": "x", "interval": "2d"})
        for name in ("timestamp", "provider"):  # not an internal error naming no column
            bars = _bars("ACME", 2).append_column("provider", pa.array(["imp"] * 2))
            twice = bars.append_column(name, bars[name])
            with pytest.raises(pa.ArrowInvalid) as caught:
                await asyncio.to_thread(put, fg, twice, {"interval": "1d"})
            assert f"column {name!r} appears twice; nothing was written" in str(caught.value)
            info = flight_error_info(caught.value)
            assert info is not None
            assert info["details"] == {"column": name}
        assert await fg.gateway.store.datasets() == []


def _info_error(fg: FlightGateway, command: bytes) -> Exception:
    client = fg.client()
    try:
        client.get_flight_info(flight.FlightDescriptor.for_command(command))
    except (flight.FlightError, pa.ArrowException) as exc:
        error: Exception = exc
        return error
    finally:
        client.close()
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("command", "code", "text"),
    [
        (b"{not json", "INVALID_REQUEST", "query: not valid JSON"),
        (b"[1, 2]", "INVALID_REQUEST", "expected a JSON object"),
        (
            b'{"symbol": "AAPL", "interval": "5x", "start": "2024-01-01"}',
            "INVALID_INTERVAL",
            "interval: unknown interval '5x'",
        ),
        (
            b'{"symbol": "AAPL", "interval": "1m", "start": "1990-01-01", "end": "2024-01-01"}',
            "INVALID_TIME_RANGE",
            "end: [1990-01-01",
        ),
        (
            b'{"symbol": "AAPL", "interval": "1d", "start": "2024-02-01", "end": "2024-01-01"}',
            "INVALID_TIME_RANGE",
            "start: must be before end",
        ),
        (
            b'{"symbol": "AA PL", "interval": "1d", "start": "2024-01-01"}',
            "INVALID_REQUEST",
            "symbol:",
        ),
        (
            b'{"symbol": "AAPL", "interval": "1d", "start": "yesterday"}',
            "INVALID_TIME_RANGE",
            "start:",
        ),
        (
            b'{"symbol": "AAPL", "interval": "1d", "start": "2024-01-01", "limit": 5}',
            "INVALID_REQUEST",
            "limit: unknown field",
        ),
    ],
)
async def test_bad_queries_are_clear_errors(
    fresh_database_url: str, command: bytes, code: str, text: str
) -> None:
    async with running_flight(fresh_database_url) as fg:
        exc = await asyncio.to_thread(_info_error, fg, command)
    assert isinstance(exc, pa.ArrowInvalid)  # gRPC INVALID_ARGUMENT
    assert text in str(exc)
    assert "Traceback" not in str(exc)
    info = flight_error_info(exc)
    assert info is not None
    assert info["code"] == code


async def test_unknown_provider_and_bad_ticket(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url, RecordingProvider("alpha")) as fg:
        exc = await asyncio.to_thread(
            _info_error,
            fg,
            b'{"symbol": "AAPL", "interval": "1d", "start": "2024-01-01", "end": "2024-01-05", '
            b'"provider": "nope"}',
        )
        assert isinstance(exc, pa.ArrowKeyError)  # gRPC NOT_FOUND
        info = flight_error_info(exc)
        assert info is not None
        assert info["code"] == "PROVIDER_NOT_FOUND"
        assert "unknown provider 'nope'" in str(exc)

        def bad_ticket() -> None:
            client = fg.client()
            try:
                client.do_get(flight.Ticket(b"garbage\xff")).read_all()
            finally:
                client.close()

        with pytest.raises(pa.ArrowInvalid, match="ticket: not a TimeBase ticket"):
            await asyncio.to_thread(bad_ticket)


async def test_unavailable_when_no_provider(fresh_database_url: str) -> None:
    async with running_flight(fresh_database_url) as fg:
        exc = await asyncio.to_thread(
            _info_error,
            fg,
            b'{"symbol": "NOPE", "interval": "1d", "start": "2024-01-01", "end": "2024-01-05"}',
        )
    assert isinstance(exc, flight.FlightUnavailableError)
    assert "Traceback" not in str(exc)


async def test_derived_interval_streams_through_the_core(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha", intervals=["1h"])
    async with running_flight(fresh_database_url, alpha) as fg:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        info, table = await asyncio.to_thread(
            read,
            fg,
            symbol="ACME",
            interval="4h",
            start=start.isoformat(),
            end=(start + timedelta(days=1)).isoformat(),
        )
        assert table.num_rows == 6 == info.total_records
        assert set(table["interval"].to_pylist()) == {"4h"}


async def test_derived_weekly_bars_equal_the_core_answer_and_are_fetched_once(
    fresh_database_url: str,
) -> None:
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_flight(fresh_database_url, alpha) as fg:
        query = {"symbol": "WEEKS", "interval": "1wk", "provider": "alpha"}
        start, end = datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC)
        range_ = {"start": start.isoformat(), "end": end.isoformat()}
        info, table = await asyncio.to_thread(read, fg, **query, **range_)
        fetched = fg.gateway.history.upstream_requests
        core = await fg.gateway.history.get(
            build_request(symbol="WEEKS", interval="1wk", start=start, end=end, provider="alpha")
        )
        assert table.num_rows == info.total_records == core.table.num_rows == 9
        assert table.equals(core.table)
        assert fg.gateway.history.upstream_requests == fetched  # stored once, read from the store


async def test_large_answers_carry_the_planner_estimate_as_row_count(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend 10 rows are "large": the count is then the planner's estimate, not a scan.
    monkeypatch.setattr(counting, "EXACT_COUNT_BELOW", 1)
    async with running_flight(fresh_database_url, RecordingProvider("alpha")) as fg:
        info, table = await asyncio.to_thread(
            read, fg, symbol="EST", interval="1h", start="2024-01-01", end="2024-01-02"
        )
        assert table.num_rows == 24
        # The same query the FlightInfo counted, asked of the planner directly.
        query = BarQuery.build("EST", Interval("1h"), T0, T0 + DAY, provider="alpha").sql()

        def estimate(conn: Any) -> int:
            with conn.cursor() as cur:
                cur.execute("SELECT timebase_row_estimate($1)", parameters=(query,))
                ((rows,),) = cur.fetchall()
                return int(rows)

        planned = await fg.gateway.store.pool.run(estimate)
        assert planned != 24  # else this test could not tell the estimate from a count
        assert info.total_records == planned
