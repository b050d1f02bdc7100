"""Flight errors as a client sees them: the gRPC status of each kind of error (bad input
INVALID_ARGUMENT, unknown provider NOT_FOUND, DoExchange UNIMPLEMENTED, ...), TimeBase's code and
message (in the status detail or `extra_info`), the message first in the status message, never a
server traceback or file; and `timebase.client` turning each back into its own error
(`timebase.flight.errors`, `timebase.flight.refusal`).

A real Flight server on port 0 (auth on, with the test keys), asked with pyarrow's client and with
a plain grpcio client (`tests.flight.raw_grpc`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.auth.support import MISSING, READ_KEY, auth_config, bearer, denied
from tests.flight import raw_grpc
from tests.flight.conftest import sent_error
from tests.gateway.support import Gateway, RecordingProvider, running_gateway
from timebase.auth.authenticator import Authenticator
from timebase.client import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    TimeBaseClientError,
    Unauthenticated,
    Unavailable,
)
from timebase.client.errors import flight_error_info, from_flight
from timebase.flight import FlightServer
from timebase.gateway.query import QueryApi
from timebase.store import BAR_SCHEMA

pytestmark = pytest.mark.asyncio

QUERY = {"symbol": "AAPL", "interval": "1d", "start": "2024-01-01", "end": "2024-01-05"}


class Observed:
    """A `RequestObserver` keeping each observation's (door, route, status)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def observe(
        self, door: str, route: str, method: str, status: int | str, seconds: float
    ) -> None:
        self.calls.append((door, route, str(status)))


@contextlib.asynccontextmanager
async def flight_with_keys(
    database_url: str, metrics: Observed | None = None
) -> AsyncIterator[tuple[Gateway, str]]:
    """A gateway with one provider and its Flight server (auth on); yields (gateway, location)."""
    async with running_gateway(database_url, RecordingProvider("alpha")) as gateway:
        server = FlightServer("127.0.0.1", 0)
        authenticator = Authenticator(auth_config())
        await authenticator.start()
        server.attach(QueryApi(gateway.history), metrics=metrics, authenticator=authenticator)
        await server.start()
        try:
            yield gateway, server.location
        finally:
            await server.stop()


def failure(location: str, call: Callable[[flight.FlightClient], Any], key: str | None) -> Any:
    """The error `call(client)` raised (blocking: run in a thread)."""
    client = flight.connect(location)
    try:
        call(client)
    except Exception as exc:
        return exc
    finally:
        client.close()
    raise AssertionError("the call succeeded")


def options(key: str | None = READ_KEY) -> flight.FlightCallOptions:
    headers = [(b"authorization", bearer(key).encode())] if key else []
    return flight.FlightCallOptions(headers=headers, timeout=30)


def info_call(command: bytes, key: str | None = READ_KEY) -> Callable[[flight.FlightClient], Any]:
    descriptor = flight.FlightDescriptor.for_command(command)
    return lambda client: client.get_flight_info(descriptor, options(key))


def put_call(key: str) -> Callable[[flight.FlightClient], Any]:
    def put(client: flight.FlightClient) -> None:
        descriptor = flight.FlightDescriptor.for_command(b'{"provider": "dump", "interval": "1d"}')
        writer, _ = client.do_put(descriptor, BAR_SCHEMA, options(key))
        writer.write_table(BAR_SCHEMA.empty_table())
        writer.done_writing()
        writer.close()

    return put


#: What nothing a client receives may contain: a traceback, the server's files and lines.
LEAKS = ("Traceback", 'File "', ".py", ", line ", "raise ")


def assert_sent(
    error: Exception,
    cls: type[Exception],
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> None:
    """`error` is `cls` (its gRPC status: ArrowInvalid for INVALID_ARGUMENT, ArrowKeyError for
    NOT_FOUND, ArrowNotImplementedError for UNIMPLEMENTED, a FlightError for the others),
    TimeBase's error exactly, the status message that message (then pyarrow's `. Detail: …` and
    client context), and nothing of the server's code or traceback."""
    assert type(error) is cls, f"{type(error).__name__}: {error}"
    assert flight_error_info(error) == {
        "code": code,
        "message": message,
        "details": details or {},
    }
    text = str(error)
    assert text.startswith(f"{message}. Detail: "), text
    for leak in LEAKS:
        assert leak not in text


def assert_client_error(
    error: Exception, cls: type[TimeBaseClientError], code: str, message: str
) -> TimeBaseClientError:
    mapped = from_flight(error, "127.0.0.1")
    assert type(mapped) is cls
    assert (mapped.code, mapped.message) == (code, message)
    return mapped


async def test_bad_ticket(fresh_database_url: str) -> None:
    async with flight_with_keys(fresh_database_url) as (_, location):
        error = await asyncio.to_thread(
            failure,
            location,
            lambda c: c.do_get(flight.Ticket(b"garbage\xff"), options()).read_all(),
            None,
        )
    message = (
        "ticket: not a TimeBase ticket; use the tickets of a FlightInfo from get_flight_info or "
        "list_flights"
    )
    assert_sent(error, pa.ArrowInvalid, "INVALID_REQUEST", message, {"field": "ticket"})
    assert_client_error(error, InvalidRequest, "INVALID_REQUEST", message)


async def test_bad_descriptor(fresh_database_url: str) -> None:
    async with flight_with_keys(fresh_database_url) as (_, location):
        error = await asyncio.to_thread(failure, location, info_call(b"{not json"), None)
        interval = await asyncio.to_thread(
            failure, location, info_call(json.dumps({**QUERY, "interval": "5x"}).encode()), None
        )
    message = (
        "query: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2"
        ' (char 1)); expected an object like {"symbol": "AAPL", "interval": "1d", "start": '
        '"2024-01-01", "end": "2024-02-01"}'
    )
    assert_sent(error, pa.ArrowInvalid, "INVALID_REQUEST", message, {"field": "descriptor"})
    assert_client_error(error, InvalidRequest, "INVALID_REQUEST", message)
    info = flight_error_info(interval)
    assert info is not None
    assert info["code"] == "INVALID_INTERVAL"
    assert info["message"].startswith("interval: unknown interval '5x'")
    assert_sent(interval, pa.ArrowInvalid, "INVALID_INTERVAL", **_rest(info))


def _rest(info: dict[str, Any]) -> dict[str, Any]:
    return {"message": info["message"], "details": info["details"]}


async def test_not_found(fresh_database_url: str) -> None:
    async with flight_with_keys(fresh_database_url) as (_, location):
        command = json.dumps({**QUERY, "provider": "nope"}).encode()
        error = await asyncio.to_thread(failure, location, info_call(command), None)
    message = (
        "provider: unknown provider 'nope' (providers: alpha; no stored bars from 'nope' for AAPL)"
    )
    info = flight_error_info(error)
    assert info is not None
    assert info["details"]["provider"] == "nope"
    assert_sent(error, pa.ArrowKeyError, "PROVIDER_NOT_FOUND", message, info["details"])
    assert_client_error(error, NotFound, "PROVIDER_NOT_FOUND", message)


async def test_unauthenticated(fresh_database_url: str) -> None:
    """No key: refused on every call, DoGet of a ticket the server issued included."""
    async with flight_with_keys(fresh_database_url) as (_, location):
        command = json.dumps(QUERY).encode()
        error = await asyncio.to_thread(failure, location, info_call(command, key=None), None)

        def issued_then_read_without_key(client: flight.FlightClient) -> None:
            info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options())
            client.do_get(info.endpoints[0].ticket, options(None)).read_all()

        read = await asyncio.to_thread(failure, location, issued_then_read_without_key, None)
    for refused in (error, read):
        assert_sent(refused, flight.FlightUnauthenticatedError, "UNAUTHENTICATED", MISSING)
        assert_client_error(refused, Unauthenticated, "UNAUTHENTICATED", MISSING)


async def test_permission_denied(fresh_database_url: str) -> None:
    async with flight_with_keys(fresh_database_url) as (_, location):
        error = await asyncio.to_thread(failure, location, put_call(READ_KEY), None)
    message = denied("writing bars", "write", "reader", "read")
    assert_sent(
        error,
        flight.FlightUnauthorizedError,
        "PERMISSION_DENIED",
        message,
        {"required_scope": "write", "key_scope": "read", "action": "writing bars"},
    )
    assert_client_error(error, PermissionDenied, "PERMISSION_DENIED", message)


async def test_busy_database(fresh_database_url: str) -> None:
    """Every connection of the pool taken: DATABASE_BUSY, UNAVAILABLE, with when to retry."""
    async with flight_with_keys(fresh_database_url) as (gateway, location):
        pool = gateway.store.pool
        pool.acquire_timeout = 0.2
        async with contextlib.AsyncExitStack() as held:
            for _ in range(pool.size):
                await held.enter_async_context(pool.connection())
            error = await asyncio.to_thread(
                failure, location, info_call(json.dumps(QUERY).encode()), None
            )
    message = (
        f"no database connection became free within 0.2 s (all {pool.size} in use; "
        "database.pool_size, database.acquire_timeout_seconds); try again later"
    )
    assert_sent(
        error,
        flight.FlightUnavailableError,
        "DATABASE_BUSY",
        message,
        {"pool_size": pool.size, "retry_after": 0.2},
    )
    mapped = assert_client_error(error, Unavailable, "DATABASE_BUSY", message)
    assert isinstance(mapped, Unavailable)
    assert mapped.retry_after == 0.2


async def test_do_exchange_is_not_served(fresh_database_url: str) -> None:
    def exchange(client: flight.FlightClient) -> None:
        descriptor = flight.FlightDescriptor.for_command(b"{}")
        writer, reader = client.do_exchange(descriptor, options())
        writer.begin(pa.schema([("x", pa.int64())]))
        writer.done_writing()
        reader.read_all()

    async with flight_with_keys(fresh_database_url) as (_, location):
        error = await asyncio.to_thread(failure, location, exchange, None)
    message = "DoExchange is not served; read with GetFlightInfo + DoGet, write with DoPut"
    assert_sent(error, pa.ArrowNotImplementedError, "NOT_IMPLEMENTED", message)
    assert_client_error(error, TimeBaseClientError, "NOT_IMPLEMENTED", message)


def _port(location: str) -> int:
    return int(location.rsplit(":", 1)[1])


def assert_raw(
    failure: raw_grpc.Failure,
    status: grpc.StatusCode,
    arrow_code: str,
    error: tuple[str, str, dict[str, Any]],
) -> None:
    """A client error as a plain gRPC client receives it: the status code, the status message
    `<message>. Detail: Python exception: <JSON>`, Arrow's trailers, and no traceback. `error`:
    TimeBase's (code, message, details)."""
    code, message, details = error
    wire = json.dumps({"code": code, "message": message, "details": details}, separators=(",", ":"))
    assert failure.code is status
    assert failure.details == f"{message}. Detail: Python exception: {wire}"
    assert failure.trailing["x-arrow-status"] == arrow_code
    assert failure.trailing["x-arrow-status-message-bin"] == message.encode()
    assert failure.trailing["x-arrow-status-detail-bin"] == f"Python exception: {wire}".encode()
    for leak in LEAKS:
        assert leak not in failure.everything()


async def test_raw_grpc_client_gets_invalid_argument_and_not_found(
    fresh_database_url: str,
) -> None:
    """The gRPC codes themselves: bad descriptor and bad ticket INVALID_ARGUMENT (Arrow code 4),
    an unknown provider NOT_FOUND (2); a refused key UNAUTHENTICATED with the JSON in
    `grpc-status-details-bin`."""
    metrics = Observed()
    async with flight_with_keys(fresh_database_url, metrics) as (_, location):
        port = _port(location)
        bad_json = await asyncio.to_thread(
            raw_grpc.fail, port, "GetFlightInfo", raw_grpc.command_descriptor(b"{not"), READ_KEY
        )
        bad_ticket = await asyncio.to_thread(
            raw_grpc.fail, port, "DoGet", raw_grpc.ticket(b"garbage\xff"), READ_KEY
        )
        command = json.dumps({**QUERY, "provider": "nope"}).encode()
        unknown = await asyncio.to_thread(
            raw_grpc.fail, port, "GetFlightInfo", raw_grpc.command_descriptor(command), READ_KEY
        )
        no_key = await asyncio.to_thread(
            raw_grpc.fail, port, "GetFlightInfo", raw_grpc.command_descriptor(command), None
        )
    message = (
        "query: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2"
        ' (char 1)); expected an object like {"symbol": "AAPL", "interval": "1d", "start": '
        '"2024-01-01", "end": "2024-02-01"}'
    )
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert_raw(bad_json, invalid, "4", ("INVALID_REQUEST", message, {"field": "descriptor"}))
    message = (
        "ticket: not a TimeBase ticket; use the tickets of a FlightInfo from get_flight_info or "
        "list_flights"
    )
    assert_raw(bad_ticket, invalid, "4", ("INVALID_REQUEST", message, {"field": "ticket"}))
    message = (
        "provider: unknown provider 'nope' (providers: alpha; no stored bars from 'nope' for AAPL)"
    )
    wire = unknown.trailing["x-arrow-status-detail-bin"]
    assert isinstance(wire, bytes)
    details = json.loads(wire.removeprefix(b"Python exception: "))["details"]
    assert details["provider"] == "nope"
    not_found = ("PROVIDER_NOT_FOUND", message, details)
    assert_raw(unknown, grpc.StatusCode.NOT_FOUND, "2", not_found)
    assert no_key.code is grpc.StatusCode.UNAUTHENTICATED
    assert no_key.details == f"{MISSING}. Detail: Unauthenticated"
    assert json.loads(no_key.trailing["grpc-status-details-bin"]) == {
        "code": "UNAUTHENTICATED",
        "message": MISSING,
        "details": {},
    }
    for leak in LEAKS:
        assert leak not in no_key.everything()
    # The request metrics name the same gRPC statuses (as the gRPC door's do).
    assert metrics.calls == [
        ("flight", "GET_FLIGHT_INFO", "INVALID_ARGUMENT"),
        ("flight", "DO_GET", "INVALID_ARGUMENT"),
        ("flight", "GET_FLIGHT_INFO", "NOT_FOUND"),
        ("flight", "GET_FLIGHT_INFO", "UNAUTHENTICATED"),
    ]


async def test_actions_and_listing_refuse_bad_input_as_invalid_argument(
    fresh_database_url: str,
) -> None:
    """The streamed calls (DoAction, ListFlights) too: an unknown action, a bad events body and
    bad criteria come back as INVALID_ARGUMENT with TimeBase's error, no traceback."""

    def action(kind: str, body: bytes) -> Callable[[flight.FlightClient], Any]:
        return lambda client: list(client.do_action(flight.Action(kind, body), options()))

    def listing(client: flight.FlightClient) -> Any:
        return list(client.list_flights(b"{not json", options()))

    async with flight_with_keys(fresh_database_url) as (_, location):
        unknown = await asyncio.to_thread(failure, location, action("nope", b""), None)
        bad_body = await asyncio.to_thread(
            failure, location, action("events", b'{"symbol": "AA PL"}'), None
        )
        criteria = await asyncio.to_thread(failure, location, listing, None)
    message = "action: unknown action 'nope'; the actions are: events"
    assert_sent(unknown, pa.ArrowInvalid, "INVALID_REQUEST", message, {"field": "action"})
    for error in (bad_body, criteria):
        info = sent_error(error)
        assert info["code"] == "INVALID_REQUEST"
        assert_sent(error, pa.ArrowInvalid, "INVALID_REQUEST", **_rest(info))
    assert sent_error(bad_body)["details"] == {"field": "symbol"}
    message = sent_error(criteria)["message"]
    assert_client_error(criteria, InvalidRequest, "INVALID_REQUEST", message)
