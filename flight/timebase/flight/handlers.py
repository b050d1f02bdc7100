"""The Flight calls (run on Flight threads): parse the protocol, ask the query API, render.

    handlers = FlightHandlers(api, bridge)
    handlers.flight_info(descriptor)   # plans (core) → FlightInfo with one ticket per symbol
                                       # (read from `flight.peers` in turn when configured)
    handlers.stream(ticket_bytes)      # a ticket's plan streamed from the store (blocking reads)
    handlers.datasets(criteria)        # stored series → FlightInfos
    handlers.ingest(descriptor, reader, caller)
    handlers.events(body, caller)      # action "events": split and dividend events (Arrow IPC)

Calls into the core are coroutines run on the event loop through the bridge; the bars of
`do_get` are read on the Flight thread itself, straight from the ADBC reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
from pyarrow import flight

from timebase.audit import AuditAction
from timebase.auth import Caller
from timebase.flight.bridge import LoopBridge
from timebase.flight.errors import to_flight_error
from timebase.flight.put import apply_options
from timebase.flight.query import (
    DEFAULT_MAX_SYMBOLS,
    PutOptions,
    flight_limit,
    parse_put_options,
    parse_query,
)
from timebase.flight.tickets import decode_ticket, encode_ticket
from timebase.gateway.bar_limits import DEFAULT_MAX_BARS
from timebase.gateway.bar_request import check_symbol
from timebase.gateway.bar_warnings import encode_warnings
from timebase.gateway.calendar_rules import CALENDARS_SCHEMA_KEY
from timebase.gateway.coverage_plan import ReadPlan
from timebase.gateway.query import QueryApi, read_plan
from timebase.gateway.query.split import DEFAULT_ENDPOINT_BARS, split_plan
from timebase.sdk.errors import InvalidRequestError, TimeBaseError
from timebase.store import BAR_SCHEMA


class FlightHandlers:
    """TimeBase's Flight calls over `api`; see the module docstring."""

    def __init__(
        self,
        api: QueryApi,
        bridge: LoopBridge,
        *,
        max_bars: int = DEFAULT_MAX_BARS,
        max_symbols: int = DEFAULT_MAX_SYMBOLS,
        peers: Sequence[str] = (),
        endpoint_bars: int = DEFAULT_ENDPOINT_BARS,
    ) -> None:
        self.api = api
        #: `flight.peers`: endpoint k is read from peers[k % len(peers)] (none: from here).
        self.peers = [flight.Location(peer) for peer in peers]
        self.bridge = bridge
        self.bar_limit = flight_limit(max_bars)
        self.max_symbols = max_symbols
        #: A symbol's range longer than this many bars is split into endpoints by time range.
        self.endpoint_bars = endpoint_bars

    def flight_info(
        self,
        descriptor: flight.FlightDescriptor,
        caller: Caller | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> flight.FlightInfo:
        """Plan `descriptor`'s query (fetching what is missing on behalf of `caller`); a call
        the client cancels (`cancelled`) stops its fetches."""
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise InvalidRequestError(
                "descriptor: use FlightDescriptor.for_command(<JSON query>), e.g. "
                '{"symbol": "AAPL", "interval": "1d", "start": "2024-01-01"}',
                field="descriptor",
            )
        query = parse_query(
            descriptor.command, bar_limit=self.bar_limit, max_symbols=self.max_symbols
        )
        planned = self.bridge.call(
            self.api.plan_bars(query.requests, stored_only=query.cached_only, caller=caller),
            cancelled=cancelled,
        )
        # Large ranges are split by time: each endpoint is read on its own connection, and
        # endpoint k goes to the k-th configured peer in turn.
        parts = [part for plan in planned.plans for part in split_plan(plan, self.endpoint_bars)]
        endpoints = [
            flight.FlightEndpoint(encode_ticket(part), self._locations(k))
            for k, part in enumerate(parts)
        ]
        schema = BAR_SCHEMA
        if planned.calendars:  # which trading calendar applied to each symbol
            schema = schema.with_metadata(
                {CALENDARS_SCHEMA_KEY: json.dumps(dict(planned.calendars), sort_keys=True)}
            )
        return flight.FlightInfo(
            schema,
            descriptor,
            endpoints,
            planned.rows,
            -1,
            ordered=True,
            app_metadata=encode_warnings(list(planned.warnings)),
        )

    def _locations(self, k: int) -> list[flight.Location]:
        """Where endpoint `k` is read: the next peer in turn (tickets are self-contained plans,
        so any gateway on the database streams any ticket), or here (no location)."""
        return [self.peers[k % len(self.peers)]] if self.peers else []

    def stream(
        self, raw_ticket: bytes, cancelled: Callable[[], bool] | None = None
    ) -> flight.FlightDataStream:
        """A ticket's plan streamed from the store; a client that cancels (`cancelled`) stops
        the reads, and the connection goes back to the pool."""
        plan = decode_ticket(raw_ticket)
        return flight.GeneratorStream(BAR_SCHEMA, self._batches(plan, cancelled))

    def _batches(
        self, plan: ReadPlan, cancelled: Callable[[], bool] | None = None
    ) -> Iterator[pa.RecordBatch]:
        try:
            if not plan.segments:
                return
            declared = self.api.declared_adjustments()
            cal = None
            if plan.calendar is not None:
                cal = self.bridge.call(self.api.calendar(plan.calendar))
            with self.api.store.thread_reader(self.bridge.call, self.bridge.release) as reader:
                for batch in read_plan(plan, reader, declared, cal):
                    if cancelled is not None and cancelled():
                        return
                    yield batch
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

    def events(self, body: bytes, caller: Caller | None = None) -> bytes:
        """The `events` action: the split and dividend events recorded on one symbol's bars
        (`{"symbol": ..., "start": ..., "end"?: ..., "interval"?: "1d", "provider"?: ...}`), as
        an Arrow IPC stream of `timebase.gateway.adjustments.EVENT_SCHEMA`."""
        query = parse_query(_with_default_interval(body), bar_limit=self.bar_limit, max_symbols=1)
        events, _ = self.bridge.call(self.api.events(query.requests[0], caller=caller))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, events.schema) as writer:
            writer.write_table(events)
        return bytes(sink.getvalue().to_pybytes())

    def ingest(
        self,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        caller: Caller,
    ) -> dict[str, int]:
        try:
            options = (
                parse_put_options(descriptor.command)
                if descriptor.descriptor_type == flight.DescriptorType.CMD
                else PutOptions()
            )
            table = apply_options(reader.read_all(), options)
        except Exception as exc:  # refused before the core saw it: audited here
            self.bridge.call(self.api.refused(caller, AuditAction.INGEST, exc))
            raise
        written = self.bridge.call(
            self.api.ingest(
                table,
                caller=caller,
                override_provider=options.override_provider,
                calendar=options.calendar,
            )
        )
        return {"rows_received": table.num_rows, "rows_written": written}


def _with_default_interval(body: bytes) -> bytes:
    """An `events` body with `"interval": "1d"` when it names none (errors: `parse_query`'s)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body
    if isinstance(data, dict) and "interval" not in data:
        data["interval"] = "1d"
        return json.dumps(data).encode()
    return body


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
