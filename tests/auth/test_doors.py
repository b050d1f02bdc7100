"""Every door checks the key, one policy behind all of them (docs/security.md).

A TimeBaseApp (real gRPC, Flight and REST servers on port 0; a fresh database of its own, on
each backend) with `auth.mode: keys` and a read, a write and an admin key serves each test. Each
door is asked with no key, a wrong key, a read key on a write (or admin) action, a write key and
an admin key; each case checks the status and the message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pyarrow as pa
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyarrow import flight

from tests.auth.support import (
    ADMIN_KEY,
    INVALID,
    MISSING,
    READ_KEY,
    WRITE_KEY,
    WRONG_KEY,
    auth_config,
    bearer,
    denied,
)
from timebase.client import PermissionDenied, TimeBase, Unauthenticated
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, RestConfig
from timebase.server import TimeBaseApp
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

T0 = datetime(2024, 1, 2, tzinfo=UTC)
_TIMEOUT = aiohttp.ClientTimeout(total=60)


@pytest.fixture
def bundled(tmp_path: Path) -> Path:
    """An empty bundled providers folder: the app runs no provider."""
    (tmp_path / "bundled").mkdir()
    return tmp_path


@pytest.fixture
async def app(database_url: str, bundled: Path) -> AsyncIterator[TimeBaseApp]:
    root = bundled
    config = Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=root / "data",
        database=DatabaseConfig(url=database_url),
        providers=ProvidersConfig(bundled_dir=Path(root / "bundled")),
        rest=RestConfig(rate_limit_enabled=False),
        auth=auth_config(),
    )
    started = TimeBaseApp(config)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


# -- gRPC ------------------------------------------------------------------------------------------


def _metadata(key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", bearer(key)),) if key else ()


def _invalidate_request() -> v1.InvalidateRangeRequest:
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(T0)
    end.FromDatetime(datetime(2024, 2, 1, tzinfo=UTC))
    return v1.InvalidateRangeRequest(
        symbol="AUTH", interval="1d", start_time=start, end_time=end, provider="my-dump"
    )


async def _grpc(app: TimeBaseApp, call: str, request: Any, key: str | None) -> Any:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        stub: Any = v1_grpc.GatewayServiceStub(channel)
        answer = getattr(stub, call)(request, metadata=_metadata(key), timeout=10)
        if call == "GetBars":  # server streaming
            return [message async for message in answer]
        return await answer


async def _grpc_error(
    app: TimeBaseApp, call: str, request: Any, key: str | None
) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _grpc(app, call, request, key)
    return raised.value.code(), raised.value.details() or ""


async def test_grpc_no_key_and_wrong_key_are_unauthenticated(app: TimeBaseApp) -> None:
    listing = v1.ListProvidersRequest()
    assert await _grpc_error(app, "ListProviders", listing, None) == (
        grpc.StatusCode.UNAUTHENTICATED,
        MISSING,
    )
    assert await _grpc_error(app, "ListProviders", listing, WRONG_KEY) == (
        grpc.StatusCode.UNAUTHENTICATED,
        INVALID,
    )


async def test_grpc_health_and_reflection_stay_open(app: TimeBaseApp) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_grpc_read_key_reads_but_may_not_write(app: TimeBaseApp) -> None:
    reply = await _grpc(app, "ListProviders", v1.ListProvidersRequest(), READ_KEY)
    assert isinstance(reply, v1.ListProvidersResponse)
    assert await _grpc_error(app, "InvalidateRange", _invalidate_request(), READ_KEY) == (
        grpc.StatusCode.PERMISSION_DENIED,
        denied("invalidating a range", "write", "reader", "read"),
    )


async def test_grpc_write_key_writes_but_may_not_administer(app: TimeBaseApp) -> None:
    reply = await _grpc(app, "InvalidateRange", _invalidate_request(), WRITE_KEY)
    assert (reply.deleted, list(reply.providers)) == (0, ["my-dump"])
    request = v1.RemoveProviderRequest(slug="nothing-here")
    assert await _grpc_error(app, "RemoveProvider", request, WRITE_KEY) == (
        grpc.StatusCode.PERMISSION_DENIED,
        denied("removing a provider", "admin", "writer", "write"),
    )


async def test_grpc_admin_key_administers(app: TimeBaseApp) -> None:
    code, message = await _grpc_error(
        app, "RemoveProvider", v1.RemoveProviderRequest(slug="nothing-here"), ADMIN_KEY
    )
    assert code is grpc.StatusCode.NOT_FOUND  # past authorization: the provider is unknown
    assert "nothing-here" in message
    reply = await _grpc(app, "InvalidateRange", _invalidate_request(), ADMIN_KEY)
    assert reply.deleted == 0


# -- Arrow Flight ------------------------------------------------------------------------------------


def _bars(symbol: str, days: int) -> pa.Table:
    stamps = [datetime(2024, 1, 2 + d, tzinfo=UTC) for d in range(days)]
    return pa.table(
        {
            "symbol": [symbol] * days,
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "open": [10.0] * days,
            "high": [11.0] * days,
            "low": [9.0] * days,
            "close": [10.5] * days,
            "volume": [100.0] * days,
        }
    )


def _raw_list_flights(app: TimeBaseApp, key: str | None) -> list[flight.FlightInfo]:
    client = flight.connect(f"grpc://127.0.0.1:{app.flight.port}")
    headers = [(b"authorization", bearer(key).encode())] if key else []
    try:
        return list(client.list_flights(b"", flight.FlightCallOptions(headers=headers)))
    finally:
        client.close()


def _raw_put(app: TimeBaseApp, key: str, table: pa.Table) -> None:
    client = flight.connect(f"grpc://127.0.0.1:{app.flight.port}")
    options = flight.FlightCallOptions(headers=[(b"authorization", bearer(key).encode())])
    descriptor = flight.FlightDescriptor.for_command('{"provider": "my-dump", "interval": "1d"}')
    try:
        writer, _ = client.do_put(descriptor, table.schema, options)
        writer.write_table(table)
        writer.done_writing()
        writer.close()
    finally:
        client.close()


def _client(app: TimeBaseApp, key: str) -> TimeBase:
    return TimeBase("127.0.0.1", app.grpc.port or 0, app.flight.port or 0, api_key=key)


def _ingest(app: TimeBaseApp, key: str, table: pa.Table) -> int:
    with _client(app, key) as client:
        return client.ingest(table, "my-dump", "1d")


async def test_flight_no_key_and_wrong_key_are_unauthenticated(app: TimeBaseApp) -> None:
    with pytest.raises(flight.FlightUnauthenticatedError) as raised:
        await asyncio.to_thread(_raw_list_flights, app, None)
    assert json.loads(raised.value.extra_info) == {
        "code": "UNAUTHENTICATED",
        "message": MISSING,
        "details": {},
    }
    with pytest.raises(flight.FlightUnauthenticatedError) as raised:
        await asyncio.to_thread(_raw_list_flights, app, WRONG_KEY)
    assert json.loads(raised.value.extra_info)["message"] == INVALID


async def test_flight_read_key_reads_but_may_not_put(app: TimeBaseApp) -> None:
    assert isinstance(await asyncio.to_thread(_raw_list_flights, app, READ_KEY), list)
    with pytest.raises(flight.FlightUnauthorizedError):
        await asyncio.to_thread(_raw_put, app, READ_KEY, _bars("RKEY", 1))
    with pytest.raises(PermissionDenied) as denied_put:
        await asyncio.to_thread(_ingest, app, READ_KEY, _bars("RKEY", 1))
    assert denied_put.value.message == denied("writing bars", "write", "reader", "read")
    assert denied_put.value.details["required_scope"] == "write"
    assert app.store is not None
    assert (
        await app.store.read_table("RKEY", "1d", T0, datetime(2024, 2, 1, tzinfo=UTC))
    ).num_rows == 0


async def test_flight_write_and_admin_keys_put_and_read(app: TimeBaseApp) -> None:
    assert await asyncio.to_thread(_ingest, app, WRITE_KEY, _bars("WKEY", 3)) == 3
    assert await asyncio.to_thread(_ingest, app, ADMIN_KEY, _bars("AKEY", 2)) == 2

    def read_back() -> tuple[int, list[dict[str, Any]]]:
        with _client(app, READ_KEY) as client:
            table = client.history("WKEY", "1d", "2024-01-01", "2024-01-31", provider="my-dump")
            return table.num_rows, client.datasets("AKEY")

    rows, datasets = await asyncio.to_thread(read_back)
    assert rows == 3
    assert [(d["symbol"], d["rows"]) for d in datasets] == [("AKEY", 2)]


async def test_client_without_key_is_told_how_to_send_one(app: TimeBaseApp) -> None:
    def listing() -> None:
        with TimeBase("127.0.0.1", app.grpc.port or 0, app.flight.port or 0) as client:
            client.providers()

    with pytest.raises(Unauthenticated) as raised:
        await asyncio.to_thread(listing)
    assert (raised.value.code, raised.value.message) == ("UNAUTHENTICATED", MISSING)


# -- REST ------------------------------------------------------------------------------------------


async def _rest(
    app: TimeBaseApp, method: str, path: str, key: str | None, **kwargs: Any
) -> tuple[int, dict[str, Any], Any]:
    assert app.rest is not None
    headers = {"Authorization": bearer(key)} if key else {}
    async with (
        aiohttp.ClientSession(timeout=_TIMEOUT) as session,
        session.request(method, f"{app.rest.url}{path}", headers=headers, **kwargs) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, dict(response.headers), body


async def test_rest_no_key_and_wrong_key_are_401(app: TimeBaseApp) -> None:
    status, headers, body = await _rest(app, "GET", "/api/providers", None)
    assert (status, body["error"]["code"], body["error"]["message"]) == (
        401,
        "UNAUTHENTICATED",
        MISSING,
    )
    assert headers["WWW-Authenticate"] == 'Bearer realm="TimeBase"'
    status, _, body = await _rest(app, "GET", "/api/providers", WRONG_KEY)
    assert (status, body["error"]["code"], body["error"]["message"]) == (
        401,
        "UNAUTHENTICATED",
        INVALID,
    )


async def test_rest_read_key_reads_but_may_not_administer(app: TimeBaseApp) -> None:
    status, _, body = await _rest(app, "GET", "/api/providers", READ_KEY)
    assert (status, type(body["data"]["providers"])) == (200, list)
    status, _, body = await _rest(
        app, "POST", "/api/providers", READ_KEY, json={"folder": "anything"}
    )
    assert (status, body["error"]["code"], body["error"]["message"]) == (
        403,
        "PERMISSION_DENIED",
        denied("installing a provider", "admin", "reader", "read"),
    )
    assert body["error"]["details"]["required_scope"] == "admin"


async def test_rest_write_key_may_not_administer(app: TimeBaseApp) -> None:
    status, _, body = await _rest(app, "DELETE", "/api/providers/nothing-here", WRITE_KEY)
    assert (status, body["error"]["code"], body["error"]["message"]) == (
        403,
        "PERMISSION_DENIED",
        denied("removing a provider", "admin", "writer", "write"),
    )


#: The provider admin routes of provider repositories (docs/repositories.md): a write key is
#: refused before anything happens; an admin key gets past authorization (404: no such slug).
REPOSITORY_ADMIN = [
    ("POST", "/api/providers", {"repository": "file:///nowhere"}, "installing a provider"),
    ("POST", "/api/providers/nothing-here/update", {}, "updating a provider"),
    ("POST", "/api/providers/nothing-here/refresh", {}, "refreshing a provider"),
    ("PATCH", "/api/providers/nothing-here", {"enabled": False},
     "enabling or disabling a provider"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "action"), REPOSITORY_ADMIN)
async def test_rest_provider_admin_routes_need_the_admin_scope(
    app: TimeBaseApp, method: str, path: str, body: dict[str, Any], action: str
) -> None:
    status, _, answer = await _rest(app, method, path, WRITE_KEY, json=body)
    assert (status, answer["error"]["message"]) == (
        403,
        denied(action, "admin", "writer", "write"),
    )
    status, _, answer = await _rest(app, method, path, ADMIN_KEY, json=body)
    assert status in (400, 404), answer  # past authorization: no such repository or slug
    assert answer["error"]["code"] in ("INVALID_REQUEST", "PROVIDER_NOT_FOUND")


async def test_grpc_provider_admin_rpcs_need_the_admin_scope(app: TimeBaseApp) -> None:
    calls = [
        ("UpdateProvider", v1.UpdateProviderRequest(slug="nothing-here"), "updating a provider"),
        ("RefreshProvider", v1.RefreshProviderRequest(slug="nothing-here"),
         "refreshing a provider"),
        ("SetProviderEnabled", v1.SetProviderEnabledRequest(slug="nothing-here"),
         "enabling or disabling a provider"),
    ]  # fmt: skip
    for method, request, action in calls:
        assert await _grpc_error(app, method, request, READ_KEY) == (
            grpc.StatusCode.PERMISSION_DENIED,
            denied(action, "admin", "reader", "read"),
        )
        code, _ = await _grpc_error(app, method, request, ADMIN_KEY)
        assert code is grpc.StatusCode.NOT_FOUND


async def test_rest_admin_key_administers(app: TimeBaseApp) -> None:
    status, _, body = await _rest(app, "DELETE", "/api/providers/nothing-here", ADMIN_KEY)
    assert (status, body["error"]["code"]) == (404, "PROVIDER_NOT_FOUND")


async def test_rest_open_routes_reveal_only_up_or_down(app: TimeBaseApp) -> None:
    status, _, body = await _rest(app, "GET", "/api/health", None)
    if status == 200:  # (503 when a busy machine made the database probe time out)
        assert body["data"] == {"status": "healthy"}
    else:
        assert (status, body["error"]["message"], body["error"]["details"]) == (
            503,
            "TimeBase is unhealthy",
            {},
        )
    status, _, body = await _rest(app, "GET", "/api/health", READ_KEY)
    shown = body["data"] if status == 200 else body["error"]["details"]
    assert set(shown) >= {"database", "providers", "status"}
    status, _, body = await _rest(app, "GET", "/api/version", None)
    assert (status, body["data"]["name"]) == (200, "TimeBase")
    status, _, _ = await _rest(app, "GET", "/openapi.json", None)
    assert status == 200
    # /metrics: open to a loopback client (this one)
    assert app.rest is not None
    async with (
        aiohttp.ClientSession(timeout=_TIMEOUT) as session,
        session.get(f"{app.rest.url}/metrics") as response,
    ):
        assert response.status == 200
        assert "timebase_requests_total" in await response.text()


# -- WebSocket ---------------------------------------------------------------------------------------


async def _ws_first_messages(
    app: TimeBaseApp,
    messages: list[dict[str, Any]],
    key: str | None = None,
    *,
    closes: bool = False,
) -> tuple[list[dict[str, Any]], int | None]:
    """Open /api/stream (with `key` as a header), send `messages`, read as many (or until the
    close) and, when it `closes`, the close; return what came and the close code."""
    assert app.rest is not None
    headers = {"Authorization": bearer(key)} if key else {}
    received: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession(timeout=_TIMEOUT) as session,
        session.ws_connect(f"{app.rest.url}/api/stream", headers=headers) as ws,
    ):
        for message in messages:
            await ws.send_str(json.dumps(message))
        while len(received) < len(messages):
            frame = await ws.receive(timeout=10)
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            received.append(json.loads(frame.data))
        if closes and not ws.closed:
            frame = await ws.receive(timeout=10)
            assert frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), frame
        return received, ws.close_code


SUBSCRIBE = {"action": "subscribe", "symbol": "SYN:AUTH", "interval": "1m"}
WS_HINT = (
    'the first message must be {"type": "auth", "key": "<API key>"} (or send the header '
    "'Authorization: Bearer <key>' when opening the stream)"
)


async def test_websocket_without_key_is_refused(app: TimeBaseApp) -> None:
    received, code = await _ws_first_messages(app, [SUBSCRIBE], closes=True)
    assert received == [
        {"type": "error", "code": "UNAUTHENTICATED", "message": f"missing API key: {WS_HINT}"}
    ]
    assert code == 1008


async def test_websocket_wrong_key_is_refused(app: TimeBaseApp) -> None:
    received, code = await _ws_first_messages(
        app, [{"type": "auth", "key": WRONG_KEY}], closes=True
    )
    assert received == [{"type": "error", "code": "UNAUTHENTICATED", "message": INVALID}]
    assert code == 1008
    assert app.rest is not None
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
            await session.ws_connect(
                f"{app.rest.url}/api/stream", headers={"Authorization": bearer(WRONG_KEY)}
            )
    assert raised.value.status == 401


async def test_websocket_read_key_by_message_streams(app: TimeBaseApp) -> None:
    # The stream has no write action: a read key may do everything it offers.
    received, _ = await _ws_first_messages(app, [{"type": "auth", "key": READ_KEY}, SUBSCRIBE])
    assert received == [
        {"type": "auth", "key_name": "reader", "scope": "read"},
        {"type": "ack", "action": "subscribe", "symbol": "SYN:AUTH", "interval": "1m"},
    ]


@pytest.mark.parametrize(("key", "name"), [(WRITE_KEY, "writer"), (ADMIN_KEY, "admin")])
async def test_websocket_write_and_admin_keys_by_header_stream(
    app: TimeBaseApp, key: str, name: str
) -> None:
    received, _ = await _ws_first_messages(app, [SUBSCRIBE], key=key)
    assert received == [
        {"type": "ack", "action": "subscribe", "symbol": "SYN:AUTH", "interval": "1m"}
    ]


# -- refresh: a read that rewrites stored bars needs `write` ------------------------------------


async def test_refresh_needs_the_write_scope(app: TimeBaseApp) -> None:
    message = denied("refreshing bars", "write", "reader", "read")
    start = Timestamp()
    start.FromDatetime(T0)
    request = v1.GetBarsRequest(symbol="AUTH", interval="1d", start_time=start, refresh=True)
    assert await _grpc_error(app, "GetBars", request, READ_KEY) == (
        grpc.StatusCode.PERMISSION_DENIED,
        message,
    )
    path = "/api/data/AUTH?interval=1d&start=2024-01-02&end=2024-01-05&refresh=true"
    status, _, body = await _rest(app, "GET", path, READ_KEY)
    assert (status, body["error"]["message"]) == (403, message)
    unknown = "/api/providers/nothing-here/data/AUTH?interval=1d&start=2024-01-02&refresh=true"
    status, _, body = await _rest(app, "GET", unknown, WRITE_KEY)
    assert (status, body["error"]["code"]) == (404, "PROVIDER_NOT_FOUND")  # past authorization
