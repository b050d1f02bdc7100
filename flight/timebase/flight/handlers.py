"""The Flight calls (run on Flight threads): parse the protocol, ask the query API, render.

    handlers = FlightHandlers(api, bridge)
    handlers.flight_info(descriptor)   # plans (core) → FlightInfo with one ticket per symbol
    handlers.stream(ticket_bytes)      # a ticket's plan streamed from the store (blocking reads)
    handlers.datasets(criteria)        # stored series → FlightInfos
    handlers.ingest(descriptor, reader, caller)

Calls into the core are coroutines run on the event loop through the bridge; the bars of
`do_get` are read on the Flight thread itself, straight from the ADBC reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
from pyarrow import flight

from timebase.auth import Caller
from timebase.flight.bridge import LoopBridge
from timebase.flight.errors import to_flight_error
from timebase.flight.put import apply_options
from timebase.flight.query import PutOptions, parse_put_options, parse_query
from timebase.flight.tickets import decode_ticket, encode_ticket
from timebase.gateway.bar_request import check_symbol
from timebase.gateway.bar_warnings import encode_warnings
from timebase.gateway.coverage_plan import ReadPlan
from timebase.gateway.query import QueryApi, read_plan
from timebase.sdk.errors import InvalidRequestError, TimeBaseError
from timebase.store import BAR_SCHEMA


class FlightHandlers:
    """TimeBase's Flight calls over `api`; see the module docstring."""

    def __init__(self, api: QueryApi, bridge: LoopBridge) -> None:
        self.api = api
        self.bridge = bridge

    def flight_info(self, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise InvalidRequestError(
                "descriptor: use FlightDescriptor.for_command(<JSON query>), e.g. "
                '{"symbol": "AAPL", "interval": "1d", "start": "2024-01-01"}',
                field="descriptor",
            )
        query = parse_query(descriptor.command)
        planned = self.bridge.call(
            self.api.plan_bars(query.requests, stored_only=query.cached_only)
        )
        endpoints = [flight.FlightEndpoint(encode_ticket(plan), []) for plan in planned.plans]
        return flight.FlightInfo(
            BAR_SCHEMA,
            descriptor,
            endpoints,
            planned.rows,
            -1,
            ordered=True,
            app_metadata=encode_warnings(list(planned.warnings)),
        )

    def stream(self, raw_ticket: bytes) -> flight.FlightDataStream:
        return flight.GeneratorStream(BAR_SCHEMA, self._batches(decode_ticket(raw_ticket)))

    def _batches(self, plan: ReadPlan) -> Iterator[pa.RecordBatch]:
        try:
            if not plan.segments:
                return
            with self.api.store.thread_reader(self.bridge.call, self.bridge.release) as reader:
                yield from read_plan(plan, reader)
        except GeneratorExit:
            raise
        except Exception as exc:
            raise to_flight_error(exc, "streaming bars") from None

    def datasets(self, criteria: bytes) -> list[flight.FlightInfo]:
        symbol = _criteria_symbol(criteria)
        infos: list[flight.FlightInfo] = []
        for stored in self.bridge.call(self.api.datasets(symbol)):
            ds, plan = stored.dataset, stored.plan
            command = {
                "symbol": ds.symbol,
                "interval": ds.interval,
                "provider": ds.provider,
                "start": plan.start.isoformat(),
                "end": plan.end.isoformat(),
                "cached_only": True,
            }
            metadata = {
                "symbol": ds.symbol,
                "interval": ds.interval,
                "provider": ds.provider,
                "rows": ds.rows,
                "first": ds.first.isoformat(),
                "last": ds.last.isoformat(),
            }
            infos.append(
                flight.FlightInfo(
                    BAR_SCHEMA,
                    flight.FlightDescriptor.for_command(json.dumps(command)),
                    [flight.FlightEndpoint(encode_ticket(plan), [])],
                    ds.rows,
                    -1,
                    ordered=True,
                    app_metadata=json.dumps(metadata),
                )
            )
        return infos

    def ingest(
        self,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        caller: Caller,
    ) -> dict[str, int]:
        options = (
            parse_put_options(descriptor.command)
            if descriptor.descriptor_type == flight.DescriptorType.CMD
            else PutOptions()
        )
        table = apply_options(reader.read_all(), options)
        written = self.bridge.call(self.api.ingest(table, caller=caller))
        return {"rows_received": table.num_rows, "rows_written": written}


def _criteria_symbol(criteria: bytes) -> str | None:
    """`list_flights` criteria: nothing, or `{"symbol": "AAPL"}`."""
    if not criteria.strip():
        return None
    try:
        data = json.loads(criteria)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict) or set(data) - {"symbol"}:
        raise _criteria_error()
    raw = data.get("symbol")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _criteria_error()
    # Checked like every symbol (a NUL byte once reached the database: 503 DATABASE_ERROR).
    return check_symbol(raw, "criteria.symbol")


def _criteria_error() -> TimeBaseError:
    return InvalidRequestError(
        'criteria: expected nothing or a JSON object like {"symbol": "AAPL"}', field="criteria"
    )
