"""The audit log through every door of a running TimeBaseApp (real gRPC, Flight and REST servers
on port 0, a real database): each write and admin action a door offers becomes one row with the
door, the client address and what was done; admins read the rows over REST and gRPC alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.gateway.support import DAY, T0
from tests.supervisor.conftest import FAST
from timebase.client.errors import flight_error_info
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, RestConfig
from timebase.server import TimeBaseApp
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

pytestmark = pytest.mark.asyncio

#: The bundled providers, discovered but not started: configured, not running.
BUNDLED = ("ccxt", "local-files", "synthetic", "yahoo-finance")


@pytest.fixture
def addons(tmp_path: Path) -> Path:
    """An empty providers directory."""
    (tmp_path / "addons").mkdir()
    return tmp_path / "addons"


@pytest.fixture
async def app(tmp_path: Path, addons: Path, fresh_database_url: str) -> AsyncIterator[TimeBaseApp]:
    config = Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=fresh_database_url),
        providers=ProvidersConfig(
            **FAST,  # type: ignore[arg-type]
            directories=(addons,),
            disabled=BUNDLED,
        ),
        rest=RestConfig(rate_limit_enabled=False),
    )
    gateway = TimeBaseApp(config)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


def bars(symbol: str, days: int, close: float = 10.0) -> pa.Table:
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


def put(app: TimeBaseApp, table: pa.Table, command: bytes) -> dict[str, int]:
    """A Flight DoPut (blocking: run in a thread); its JSON answer."""
    client = flight.connect(f"grpc://127.0.0.1:{app.flight.port}")
    try:
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


def put_error(app: TimeBaseApp, table: pa.Table, command: bytes) -> Exception:
    with pytest.raises((flight.FlightError, pa.ArrowException)) as caught:
        put(app, table, command)
    error: Exception = caught.value
    return error


async def rest(app: TimeBaseApp, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    assert app.rest is not None
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, app.rest.url + path, **kw) as resp,
    ):
        return resp.status, await resp.json()


def stub(channel: grpc.aio.Channel) -> Any:  # the aio stub (grpc-stubs types the sync one)
    return v1_grpc.GatewayServiceStub(channel)


def invalidate_request(provider: str = "", interval: str = "1d") -> v1.InvalidateRangeRequest:
    request = v1.InvalidateRangeRequest(symbol="vend", interval=interval, provider=provider)
    request.start_time.FromDatetime(T0)
    request.end_time.FromDatetime(T0 + 2 * DAY)
    return request


def row(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What a REST audit entry says, without its id, time and address."""
    return (
        entry["door"],
        entry["action"],
        entry["outcome"],
        entry["symbol"],
        entry["provider"],
        entry["interval"],
        entry["rangeStart"],
        entry["rangeEnd"],
        entry["rows"],
        entry["keyName"],
        entry["keyPrefix"],
    )


async def grpc_actions(gw: Any) -> None:
    """Refresh, invalidate (and a bad interval), install and remove (refused) over gRPC."""
    request = v1.GetBarsRequest(symbol="VEND", interval="1d", provider="my-dump", refresh=True)
    request.start_time.FromDatetime(T0)
    request.end_time.FromDatetime(T0 + 5 * DAY)
    chunks = [c async for c in gw.GetBars(request)]
    assert sum(len(c.close) for c in chunks) == 5
    done = await gw.InvalidateRange(invalidate_request("my-dump"))
    assert (done.deleted, list(done.providers), list(done.kept)) == (2, ["my-dump"], [])
    with pytest.raises(grpc.aio.AioRpcError) as bad_interval:
        await gw.InvalidateRange(invalidate_request(interval="2d"))
    assert bad_interval.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as bad_folder:
        await gw.InstallProvider(v1.InstallProviderRequest(folder="nope"))
    assert bad_folder.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as ghost:
        await gw.RemoveProvider(v1.RemoveProviderRequest(slug="ghost"))
    assert ghost.value.code() == grpc.StatusCode.NOT_FOUND


async def rest_actions(app: TimeBaseApp) -> None:
    """Refresh, install (refused twice) and remove (refused) over REST."""
    status, body = await rest(
        app,
        "GET",
        "/api/providers/my-dump/data/VEND?interval=1d&start=2024-01-03&end=2024-01-05&refresh=true",
    )
    assert (status, body["data"]["count"]) == (200, 3)
    status, _ = await rest(app, "POST", "/api/providers", json={"folder": "nope"})
    assert status == 400
    status, _ = await rest(
        app,
        "POST",
        "/api/providers",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    status, _ = await rest(app, "DELETE", "/api/providers/ghost")
    assert status == 404


START, END = T0.isoformat(), (T0 + 5 * DAY).isoformat()


def day(n: int) -> str:
    return (T0 + n * DAY).isoformat()


async def test_every_write_and_admin_action_is_audited_on_its_door(app: TimeBaseApp) -> None:
    imported = json.dumps({"provider": "my-dump", "interval": "1d"}).encode()
    assert await asyncio.to_thread(put, app, bars("vend", 5), imported) == {
        "rows_received": 5,
        "rows_written": 5,
    }
    # Refused by the Flight door itself (the descriptor does not parse): audited too.
    bogus = json.dumps({"provider": "my-dump", "bogus": 1}).encode()
    error = await asyncio.to_thread(put_error, app, bars("vend", 1), bogus)
    info = flight_error_info(error)
    assert info is not None
    assert info["code"] == "INVALID_REQUEST"

    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        gw = stub(channel)
        await grpc_actions(gw)
        await rest_actions(app)
        status, body = await rest(app, "GET", "/api/audit")
        assert status == 200
        listed = await gw.ListAuditEntries(v1.ListAuditEntriesRequest())
        with pytest.raises(grpc.aio.AioRpcError) as bad_filter:
            await gw.ListAuditEntries(v1.ListAuditEntriesRequest(cursor="x"))
        assert bad_filter.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_filter.value.details() == (
            "cursor: not a cursor of this log ('x'); pass the next_cursor of the previous page"
        )
        paged = await gw.ListAuditEntries(v1.ListAuditEntriesRequest(limit=2, action="ingest"))
        assert [e.outcome for e in paged.entries] == ["INVALID_REQUEST", "ok"]
        assert paged.next_cursor == ""

    entries = body["data"]["entries"]
    assert body["data"]["nextCursor"] is None
    assert [row(e) for e in reversed(entries)] == [
        ("flight", "ingest", "ok", "VEND", "my-dump", "1d", START, day(4), 5, None, None),
        ("flight", "ingest", "INVALID_REQUEST", None, None, None, None, None, None, None, None),
        ("grpc", "refresh", "ok", "VEND", "my-dump", "1d", START, END, 5, None, None),
        ("grpc", "invalidate", "ok", "VEND", "my-dump", "1d", START, day(2), 2, None, None),
        ("grpc", "invalidate", "INVALID_INTERVAL", "vend", *[None] * 7),
        ("grpc", "install_provider", "INVALID_REQUEST", *[None] * 8),
        ("grpc", "remove_provider", "PROVIDER_NOT_FOUND", None, "ghost", *[None] * 6),
        ("rest", "refresh", "ok", "VEND", "my-dump", "1d", day(2), day(5), 3, None, None),
        ("rest", "install_provider", "INVALID_REQUEST", *[None] * 8),
        ("rest", "install_provider", "INVALID_REQUEST", *[None] * 8),
        ("rest", "remove_provider", "PROVIDER_NOT_FOUND", None, "ghost", *[None] * 6),
    ]
    by_door = {e["door"]: e["address"] for e in entries}
    # Every door records the client's address the same way: the IP, without the port.
    assert by_door == {"flight": "127.0.0.1", "grpc": "127.0.0.1", "rest": "127.0.0.1"}
    details = [e["detail"] for e in reversed(entries)]
    assert details[0] == {"rows_received": 5}
    assert details[1] == {
        "error": "bogus: unknown field; the do_put descriptor takes provider, interval, "
        "override_provider, calendar"
    }
    assert details[4]["error"].startswith("interval: unknown interval '2d'")
    assert details[5]["folder"] == "nope"
    assert details[5]["error"].startswith("folder: no provider folder 'nope' with a manifest")
    assert details[9]["error"].startswith("body: not valid JSON")
    assert details[10] == {"error": "slug: no installed provider 'ghost'"}

    # gRPC lists the same rows, newest first.
    assert [e.id for e in listed.entries] == [e["id"] for e in entries]
    first = listed.entries[-1]
    assert (first.door, first.action, first.symbol, first.provider, first.rows) == (
        "flight",
        "ingest",
        "VEND",
        "my-dump",
        5,
    )
    assert first.range_start.ToDatetime().isoformat() + "+00:00" == START
    assert json.loads(first.detail_json) == {"rows_received": 5}
    assert not listed.entries[1].HasField("rows")
    assert listed.next_cursor == ""


async def test_rest_audit_pages_and_filters(app: TimeBaseApp) -> None:
    for n in range(5):
        command = json.dumps({"provider": f"imp-{n}", "interval": "1d"}).encode()
        await asyncio.to_thread(put, app, bars(f"s{n}", 1), command)

    status, body = await rest(app, "GET", "/api/audit?limit=2")
    assert status == 200
    assert [e["symbol"] for e in body["data"]["entries"]] == ["S4", "S3"]
    assert body["data"]["count"] == 2
    cursor = body["data"]["nextCursor"]
    status, body = await rest(app, "GET", f"/api/audit?limit=2&cursor={cursor}")
    assert [e["symbol"] for e in body["data"]["entries"]] == ["S2", "S1"]
    status, body = await rest(app, "GET", f"/api/audit?limit=2&cursor={body['data']['nextCursor']}")
    assert ([e["symbol"] for e in body["data"]["entries"]], body["data"]["nextCursor"]) == (
        ["S0"],
        None,
    )

    status, body = await rest(app, "GET", "/api/audit?symbol=s3&action=ingest&door=flight")
    assert [e["provider"] for e in body["data"]["entries"]] == ["imp-3"]
    status, body = await rest(app, "GET", "/api/audit?provider=imp-1&outcome=ok")
    assert [e["symbol"] for e in body["data"]["entries"]] == ["S1"]
    status, body = await rest(app, "GET", "/api/audit?door=rest")
    assert body["data"]["entries"] == []
    status, body = await rest(app, "GET", "/api/audit?until=2000-01-01")
    assert body["data"]["entries"] == []
    status, body = await rest(app, "GET", "/api/audit?since=2000-01-01&key=nobody")
    assert body["data"]["entries"] == []

    for query, message in [
        ("limit=0", "limit: expected a positive integer, got '0'"),
        ("limit=1001", "limit: expected 1 to 1000, got 1001"),
        ("cursor=x", "cursor: not a cursor of this log ('x'); pass the next_cursor of the previous page"),
        ("action=drop", "action: unknown action 'drop'; one of ingest, invalidate, refresh, install_provider, remove_provider, key_create, key_revoke, refresh_symbols, update_provider, enable_provider, disable_provider, refresh_provider"),
        ("since=yesterday", "since: 'yesterday' is not an ISO 8601 date or datetime (e.g. 2024-01-02 or 2024-01-02T14:30:00Z)"),
        ("sort=asc", "sort: unknown query parameter (known: action, cursor, door, key, limit, outcome, provider, since, symbol, until)"),
    ]:  # fmt: skip
        status, body = await rest(app, "GET", f"/api/audit?{query}")
        assert status == 400, query
        assert body["error"]["message"] == message


async def test_do_put_under_a_configured_provider(app: TimeBaseApp) -> None:
    """`synthetic` is discovered but disabled (not running): still a configured provider."""
    assert "synthetic" not in [p.slug for p in app.supervisor.providers()]
    assert app.store is not None
    command = json.dumps({"provider": "synthetic", "interval": "1d"}).encode()
    error = await asyncio.to_thread(put_error, app, bars("SYN:ACME", 3, close=1.0), command)
    message = (
        "provider: 'synthetic' is a configured provider: its bars come from the add-on and a put "
        "would overwrite them, so nothing was written; put the batch under a name of your own "
        '(e.g. "synthetic-import"), or, with an admin key, set "override_provider": true in the '
        "descriptor"
    )
    assert isinstance(error, pa.ArrowInvalid)  # gRPC INVALID_ARGUMENT
    assert flight_error_info(error) == {
        "code": "INVALID_REQUEST",
        "message": message,
        "details": {"field": "provider", "provider": "synthetic", "providers": ["synthetic"]},
    }
    assert await app.store.datasets() == []

    # The explicit override (auth off: the local caller is an admin) writes.
    override = json.dumps(
        {"provider": "synthetic", "interval": "1d", "override_provider": True}
    ).encode()
    assert await asyncio.to_thread(put, app, bars("SYN:ACME", 3, close=1.0), override) == {
        "rows_received": 3,
        "rows_written": 3,
    }
    stored = await app.store.read_table("SYN:ACME", "1d", T0, T0 + 5 * DAY, provider="synthetic")
    assert stored["close"].to_pylist() == [1.0, 1.0, 1.0]
    not_bool = json.dumps({"provider": "x", "override_provider": "yes"}).encode()
    error = await asyncio.to_thread(put_error, app, bars("SYN:ACME", 1), not_bool)
    assert str(error).startswith('override_provider: expected true or false, got "yes"')

    status, body = await rest(app, "GET", "/api/audit?provider=synthetic")
    assert status == 200
    assert [(e["outcome"], e["rows"], e["detail"]) for e in body["data"]["entries"]] == [
        ("ok", 3, {"rows_received": 3, "override_provider": True}),
        ("INVALID_REQUEST", None, {"rows_received": 3, "error": message}),
    ]
