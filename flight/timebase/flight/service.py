"""The pyarrow Flight server: each call authenticated (`timebase.flight.auth`) in a correlation
scope, its errors mapped in one place (`timebase.flight.errors`), the work done by
`FlightHandlers`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyarrow import flight

from timebase.auth.authenticator import Authenticator
from timebase.flight.auth import MIDDLEWARE_KEY, FlightAuthFactory, caller_of
from timebase.flight.errors import to_flight_error
from timebase.flight.handlers import FlightHandlers
from timebase.flight.metrics import FlightMetricsFactory
from timebase.gateway.request_metrics import RequestObserver
from timebase.sdk.errors import InvalidRequestError, NotImplementedByServer
from timebase.sdk.logs import correlation_scope
from timebase.store import BAR_SCHEMA

EVENTS_ACTION_HELP = (
    'The split and dividend events of one symbol: body {"symbol": "AAPL", "start": "2024-01-01", '
    '"end": "2024-06-01", "interval": "1d", "provider": ""}; one result, an Arrow IPC stream '
    "(timestamp, provider, kind, value)"
)


class FlightService(flight.FlightServerBase):  # type: ignore[misc]
    """pyarrow's server class over `handlers`."""

    def __init__(
        self,
        location: str,
        handlers: FlightHandlers,
        metrics: RequestObserver | None = None,
        authenticator: Authenticator | None = None,
        **transport: Any,
    ) -> None:
        """`transport`: pyarrow's TLS arguments (`tls_certificates`, `verify_client`,
        `root_certificates`), passed through to `FlightServerBase`; `authenticator`: API keys
        (None: auth off)."""
        middleware: dict[str, flight.ServerMiddlewareFactory] = {
            MIDDLEWARE_KEY: FlightAuthFactory(authenticator or Authenticator.disabled())
        }
        if metrics is not None:
            middleware["metrics"] = FlightMetricsFactory(metrics)
        super().__init__(location, middleware=middleware, **transport)
        self.handlers = handlers

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        with correlation_scope():
            try:
                return self.handlers.flight_info(
                    descriptor, caller_of(context), context.is_cancelled
                )
            except Exception as exc:
                raise to_flight_error(exc, "planning a query") from None

    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        try:
            caller_of(context)
        except Exception as exc:
            raise to_flight_error(exc, "describing the schema") from None
        return flight.SchemaResult(BAR_SCHEMA)

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        with correlation_scope():
            try:
                caller_of(context)  # a ticket is no key: DoGet needs one like every call
                return self.handlers.stream(ticket.ticket, context.is_cancelled)
            except Exception as exc:
                raise to_flight_error(exc, "reading bars") from None

    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        with correlation_scope():
            try:
                caller_of(context)
                infos = self.handlers.datasets(criteria or b"")
            except Exception as exc:
                raise to_flight_error(exc, "listing data sets") from None
        yield from infos

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [("events", EVENTS_ACTION_HELP)]

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        with correlation_scope():
            try:
                if action.type != "events":
                    raise InvalidRequestError(
                        f"action: unknown action {action.type!r}; the actions are: events",
                        field="action",
                    )
                body = action.body.to_pybytes() if action.body is not None else b""
                result = self.handlers.events(body, caller_of(context))
            except Exception as exc:
                raise to_flight_error(exc, "reading events") from None
        yield flight.Result(pa.py_buffer(result))

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        with correlation_scope():
            try:
                result = self.handlers.ingest(descriptor, reader, caller_of(context))
            except Exception as exc:
                raise to_flight_error(exc, "ingesting bars") from None
            writer.write(pa.py_buffer(json.dumps(result).encode()))

    def do_exchange(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        # pyarrow's default raises a bare NotImplementedError, whose traceback would reach the
        # client (`timebase.flight.errors`).
        raise to_flight_error(
            NotImplementedByServer(
                "DoExchange is not served; read with GetFlightInfo + DoGet, write with DoPut"
            ),
            "exchanging data",
        )
