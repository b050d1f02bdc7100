"""The pyarrow Flight server: each call authenticated (`timebase.flight.auth`) in a correlation
scope, its errors mapped in one place (`timebase.flight.errors`), the work done by
`FlightHandlers`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
from pyarrow import flight

from timebase.auth.authenticator import Authenticator
from timebase.flight.auth import MIDDLEWARE_KEY, FlightAuthFactory, caller_of
from timebase.flight.errors import to_flight_error
from timebase.flight.handlers import FlightHandlers
from timebase.flight.metrics import FlightMetricsFactory
from timebase.gateway.request_metrics import RequestObserver
from timebase.sdk.logs import correlation_scope
from timebase.store import BAR_SCHEMA


class FlightService(flight.FlightServerBase):  # type: ignore[misc]
    """pyarrow's server class over `handlers`."""

    def __init__(
        self,
        location: str,
        handlers: FlightHandlers,
        metrics: RequestObserver | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        middleware: dict[str, flight.ServerMiddlewareFactory] = {
            MIDDLEWARE_KEY: FlightAuthFactory(authenticator or Authenticator.disabled())
        }
        if metrics is not None:
            middleware["metrics"] = FlightMetricsFactory(metrics)
        super().__init__(location, middleware=middleware)
        self.handlers = handlers

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        with correlation_scope():
            try:
                caller_of(context)
                return self.handlers.flight_info(descriptor)
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
                caller_of(context)
                return self.handlers.stream(ticket.ticket)
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
