"""Data ownership (`timebase.gateway.ownership`): a put may not write under a configured
provider's name without an admin's explicit override, and invalidating a range removes an
imported data set only when it is named (real Flight and gRPC servers, a real database)."""

from __future__ import annotations

import asyncio
import json

import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.support import DAY, T0, RecordingProvider, request
from timebase.auth import Caller, Scope
from timebase.client.errors import flight_error_info
from timebase.gateway.bar_request import build_request
from timebase.gateway.query import QueryApi
from timebase.sdk.errors import PermissionDenied
from timebase.v1 import bars_pb2 as v1

pytestmark = pytest.mark.asyncio

REFUSED = (
    "provider: 'synthetic' is a configured provider: its bars come from the add-on and a put "
    "would overwrite them, so nothing was written; put the batch under a name of your own "
    '(e.g. "synthetic-import"), or, with an admin key, set "override_provider": true in the '
    "descriptor"
)


def batch(symbol: str, days: int, close: float) -> pa.Table:
    stamps = [T0 + i * DAY for i in range(days)]
    return pa.table(
        {
            "symbol": [symbol] * days,
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "open": [close] * days,
            "high": [close + 1] * days,
            "low": [close - 1] * days,
            "close": [close] * days,
            "volume": [1.0] * days,
        }
    )


def put(fg: FlightGateway, table: pa.Table, options: dict[str, object]) -> dict[str, int]:
    client = fg.client()
    try:
        command = json.dumps(options).encode()
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


async def closes(fg: FlightGateway, provider: str) -> list[float]:
    table = await fg.gateway.store.read_table(
        "SYN:ACME", "1d", T0, T0 + 10 * DAY, provider=provider
    )
    values: list[float] = table["close"].to_pylist()
    return values


async def test_do_put_under_a_running_provider_needs_an_admin_override(
    fresh_database_url: str,
) -> None:
    synthetic = RecordingProvider("synthetic")
    async with running_flight(fresh_database_url, synthetic) as fg:
        await fg.gateway.history.get(
            build_request(symbol="SYN:ACME", interval="1d", start=T0, end=T0 + 5 * DAY)
        )
        fetched = await closes(fg, "synthetic")
        assert len(fetched) == 5

        options: dict[str, object] = {"provider": "synthetic", "interval": "1d"}
        with pytest.raises(pa.ArrowInvalid) as caught:
            await asyncio.to_thread(put, fg, batch("SYN:ACME", 5, 1.0), options)
        assert flight_error_info(caught.value) == {
            "code": "INVALID_REQUEST",
            "message": REFUSED,
            "details": {"field": "provider", "provider": "synthetic", "providers": ["synthetic"]},
        }
        assert await closes(fg, "synthetic") == fetched  # nothing written

        # The batch's own provider column is checked the same way.
        table = batch("SYN:ACME", 2, 1.0).append_column("provider", pa.array(["synthetic"] * 2))
        with pytest.raises(pa.ArrowInvalid, match="'synthetic' is a configured"):
            await asyncio.to_thread(put, fg, table, {"interval": "1d"})
        assert await closes(fg, "synthetic") == fetched

        # A write key asking for the override is refused: overriding needs the admin scope.
        api = QueryApi(fg.gateway.history)
        writer = Caller(Scope.WRITE, "flight", "10.0.0.8", "loader", "tb_wr1t")
        with pytest.raises(PermissionDenied) as denied:
            await api.ingest(
                table.append_column("interval", pa.array(["1d"] * 2)),
                caller=writer,
                override_provider=True,
            )
        assert denied.value.message == (
            "writing under the configured provider 'synthetic' needs the 'admin' scope; "
            "key 'loader' has 'write'"
        )
        assert await closes(fg, "synthetic") == fetched

        # The admin's explicit override (auth off: the local caller is an admin) writes.
        override = {**options, "override_provider": True}
        reply = await asyncio.to_thread(put, fg, batch("SYN:ACME", 5, 1.0), override)
        assert reply == {"rows_received": 5, "rows_written": 5}
        assert await closes(fg, "synthetic") == [1.0] * 5

        # Any other name is an imported data set: written without an override.
        reply = await asyncio.to_thread(
            put, fg, batch("SYN:ACME", 3, 7.0), {"provider": "synthetic-import", "interval": "1d"}
        )
        assert reply == {"rows_received": 3, "rows_written": 3}


async def test_invalidate_keeps_imported_data_sets_unless_named(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha")
    async with running_flight(fresh_database_url, alpha) as fg:
        gw = fg.gateway
        await gw.history.get(
            build_request(symbol="SYN:ACME", interval="1d", start=T0, end=T0 + 5 * DAY)
        )
        imported: dict[str, object] = {"provider": "my-import", "interval": "1d"}
        await asyncio.to_thread(put, fg, batch("SYN:ACME", 5, 7.0), imported)
        assert len(await closes(fg, "alpha")) == 5

        req = request("SYN:ACME", "1d", T0, T0 + 5 * DAY)
        everything = v1.InvalidateRangeRequest(
            symbol="SYN:ACME", interval="1d", start_time=req.start_time, end_time=req.end_time
        )
        reply = await gw.v1.InvalidateRange(everything)
        assert (reply.deleted, list(reply.providers), list(reply.kept)) == (
            5,
            ["alpha"],
            ["my-import"],
        )
        assert await closes(fg, "alpha") == []
        assert await closes(fg, "my-import") == [7.0] * 5  # intact

        named = v1.InvalidateRangeRequest(
            symbol="SYN:ACME",
            interval="1d",
            start_time=req.start_time,
            end_time=req.end_time,
            provider="my-import",
        )
        reply = await gw.v1.InvalidateRange(named)
        assert (reply.deleted, list(reply.providers), list(reply.kept)) == (5, ["my-import"], [])
        assert await closes(fg, "my-import") == []
