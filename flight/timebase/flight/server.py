"""The Arrow Flight endpoint: bulk columnar reads (`get_flight_info` → `do_get`), the stored data
sets (`list_flights`) and bulk ingest (`do_put`).

    flight = FlightServer(host, port)
    flight.attach(history, store)      # the gateway core the app built (same as gRPC)
    await flight.start()               # listens; `flight.port` is the bound port
    ...
    await flight.stop()

pyarrow serves Flight calls on its own threads. Calls into the gateway core (routing, the
gap-aware cache, ingest) are coroutines run on the gateway's event loop with
`asyncio.run_coroutine_threadsafe`; the blocking ADBC reads of `do_get` run on the Flight thread
itself, streaming record batches from the database to the client without Python work per row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import flight

from timebase.flight.errors import shutting_down, to_flight_error
from timebase.flight.query import FlightQuery, PutOptions, parse_put_options, parse_query
from timebase.flight.tickets import TicketPlan, decode_ticket, encode_ticket
from timebase.gateway.bar_request import BarRequest, check_provider
from timebase.gateway.bar_warnings import BarWarning, WarningCode, encode_warnings
from timebase.gateway.call_metrics import FlightMetricsFactory, RequestObserver
from timebase.gateway.coverage_plan import Segment, assign, merge
from timebase.gateway.history import BarAnswer, HistoricalBars
from timebase.sdk.conventions import DEFAULT_FLIGHT_PORT
from timebase.sdk.errors import (
    InvalidDataError,
    InvalidRequestError,
    ServerStartError,
    TimeBaseError,
)
from timebase.sdk.intervals import Interval
from timebase.sdk.logs import correlation_scope
from timebase.store import BAR_SCHEMA, BarQuery, Store
from timebase.store.bars import open_bar_reader
from timebase.store.pool import Connection, PooledConnection, database_error

_log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORT = DEFAULT_FLIGHT_PORT
_ONE_US = timedelta(microseconds=1)
#: How long a Flight thread waits for the event loop to lease or return a connection.
_LEASE_TIMEOUT = 60.0


class FlightServer:
    """TimeBase's Arrow Flight door: sync constructor, `attach`, async `start`/`stop`."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, stop_timeout: float = 5.0) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.stop_timeout = stop_timeout
        self.history: HistoricalBars | None = None
        self.store: Store | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._service: _FlightService | None = None
        self._thread: threading.Thread | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._pending_lock = threading.Lock()
        self._stopping = False
        self.metrics: RequestObserver | None = None

    @property
    def location(self) -> str:
        """The URI clients connect to (`grpc://host:port`)."""
        return f"grpc://{self.host}:{self.port if self.port is not None else self.requested_port}"

    def attach(
        self, history: HistoricalBars, store: Store, metrics: RequestObserver | None = None
    ) -> None:
        """Serve from the gateway core `history` and `store` (before `start()`); record each
        call into `metrics` when given."""
        if self._service is not None:
            raise RuntimeError("attach() must be called before start()")
        self.history = history
        self.store = store
        self.metrics = metrics

    async def start(self) -> None:
        if self.history is None or self.store is None:
            raise RuntimeError("attach(history, store) before start()")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        location = f"grpc://{self.host}:{self.requested_port}"
        try:
            service = await asyncio.to_thread(_FlightService, location, self)
        except (OSError, pa.ArrowException) as exc:
            raise ServerStartError(
                f"Arrow Flight cannot listen on {self.host}:{self.requested_port} ({exc}): the "
                "port is in use or the address is not local; choose another with "
                "TIMEBASE_FLIGHT_PORT / TIMEBASE_HOST",
                address=f"{self.host}:{self.requested_port}",
            ) from None
        self._service = service
        self.port = service.port
        self._thread = threading.Thread(target=service.serve, name="timebase-flight", daemon=True)
        self._thread.start()
        _log.info("Arrow Flight server listening", extra={"address": f"{self.host}:{self.port}"})

    async def stop(self) -> None:
        """Stop accepting calls, cancel calls waiting on the core, wait (bounded) for the rest."""
        service, self._service = self._service, None
        if service is None:
            return
        self._stopping = True
        with self._pending_lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        try:
            await asyncio.wait_for(asyncio.to_thread(service.shutdown), self.stop_timeout)
        except TimeoutError:
            _log.warning("Arrow Flight calls still running after %.1f s", self.stop_timeout)
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 1.0)

    # -- bridging to the event loop -----------------------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the gateway's event loop and wait for it (from a Flight thread)."""
        loop = self._loop
        if loop is None or self._stopping or loop.is_closed():
            coro.close()
            raise shutting_down()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        with self._pending_lock:
            self._pending.add(future)
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise shutting_down() from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise shutting_down() from None
        finally:
            with self._pending_lock:
                self._pending.discard(future)

    @contextlib.contextmanager
    def leased_connection(self) -> Iterator[PooledConnection]:
        """A pooled connection for blocking work on the calling (Flight) thread."""
        assert self.store is not None
        lease = self.store.pool.connection()
        conn = self.call(lease.__aenter__(), _LEASE_TIMEOUT)
        try:
            yield conn
        finally:
            try:
                conn.raw.rollback()  # end the read transaction
            except adbc_driver_manager.Error:
                conn.broken = True
            loop = self._loop
            if loop is not None and not loop.is_closed():
                future = asyncio.run_coroutine_threadsafe(lease.__aexit__(None, None, None), loop)
                with contextlib.suppress(Exception):
                    future.result(_LEASE_TIMEOUT)

    # -- the Flight calls (on Flight threads) --------------------------------------------------

    def flight_info(self, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise InvalidRequestError(
                "descriptor: use FlightDescriptor.for_command(<JSON query>), e.g. "
                '{"symbol": "AAPL", "interval": "1d", "start": "2024-01-01"}',
                field="descriptor",
            )
        query = parse_query(descriptor.command)
        plans, rows, warnings = self.call(self._plan(query))
        endpoints = [flight.FlightEndpoint(encode_ticket(plan), []) for plan in plans]
        return flight.FlightInfo(
            BAR_SCHEMA,
            descriptor,
            endpoints,
            rows,
            -1,
            ordered=True,
            app_metadata=encode_warnings(warnings),
        )

    def stream(self, raw_ticket: bytes) -> flight.FlightDataStream:
        plan = decode_ticket(raw_ticket)
        if plan.derived:
            answer = self.call(self._derived(plan))
            return flight.RecordBatchStream(answer.table.cast(BAR_SCHEMA))
        return flight.GeneratorStream(BAR_SCHEMA, self._batches(plan))

    def _batches(self, plan: TicketPlan) -> Iterator[pa.RecordBatch]:
        """The stored bars of each segment, straight from the ADBC reader."""
        try:
            if not plan.segments:
                return
            with self.leased_connection() as conn:
                for seg in plan.segments:
                    query = BarQuery.build(
                        plan.symbol, plan.interval, seg.start, seg.end, provider=seg.provider
                    )
                    try:
                        yield from open_bar_reader(conn.raw, query)
                    except adbc_driver_manager.Error as exc:
                        conn.broken = True
                        raise database_error(exc, "reading bars") from exc
        except GeneratorExit:
            raise
        except Exception as exc:
            raise to_flight_error(exc, "streaming bars") from None

    def datasets(self, criteria: bytes) -> list[flight.FlightInfo]:
        assert self.store is not None
        symbol: str | None = None
        if criteria.strip():
            try:
                data = json.loads(criteria)
            except (UnicodeDecodeError, json.JSONDecodeError):
                data = None
            if not isinstance(data, dict) or set(data) - {"symbol"}:
                raise _criteria_error()
            raw = data.get("symbol")
            if raw is not None and not isinstance(raw, str):
                raise _criteria_error()
            symbol = raw
        sets = self.call(self.store.datasets(symbol))
        infos: list[flight.FlightInfo] = []
        for ds in sets:
            end = ds.last + _ONE_US
            plan = TicketPlan(
                ds.symbol,
                Interval(ds.interval),
                ds.first,
                end,
                (Segment(ds.first, end, ds.provider),),
            )
            command = {
                "symbol": ds.symbol,
                "interval": ds.interval,
                "provider": ds.provider,
                "start": ds.first.isoformat(),
                "end": end.isoformat(),
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
        self, descriptor: flight.FlightDescriptor, reader: flight.MetadataRecordBatchReader
    ) -> dict[str, int]:
        assert self.store is not None
        options = (
            parse_put_options(descriptor.command)
            if descriptor.descriptor_type == flight.DescriptorType.CMD
            else PutOptions()
        )
        table = reader.read_all()
        table = _apply_options(table, options)
        written = self.call(self.store.ingest(table))
        return {"rows_received": table.num_rows, "rows_written": written}

    # -- coroutines (on the event loop) -------------------------------------------------------

    async def _plan(self, query: FlightQuery) -> tuple[list[TicketPlan], int, list[BarWarning]]:
        if query.cached_only:
            return await self._plan_stored(query)
        assert self.history is not None
        history = self.history
        # Store what is missing and plan the reads; DoGet then streams the rows from the store
        # (they are read once, by DoGet, not here too).
        answers = await asyncio.gather(
            *(history.get(request, read=False) for request in query.requests),
            return_exceptions=True,
        )
        plans: list[TicketPlan] = []
        warnings: list[BarWarning] = []
        rows = 0
        failures: list[tuple[BarRequest, BaseException]] = []
        many = len(query.requests) > 1
        for request, answer in zip(query.requests, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, TimeBaseError):
                    raise answer
                failures.append((request, answer))
                continue
            plans.append(_ticket_plan(request, answer))
            rows += answer.table.num_rows  # derived bars: computed now, no segments
            warnings += [
                replace(w, message=f"{request.symbol}: {w.message}") if many else w
                for w in answer.warnings
            ]
        if failures and not plans:
            raise failures[0][1]
        for request, exc in failures:
            warnings.append(
                BarWarning(
                    WarningCode.PARTIAL_DATA,
                    f"{request.symbol}: {exc}",
                    start=request.start,
                    end=request.end,
                )
            )
        return plans, rows + await self._count_stored(plans), warnings

    async def _plan_stored(
        self, query: FlightQuery
    ) -> tuple[list[TicketPlan], int, list[BarWarning]]:
        """cached_only: stored bars only, one provider per range (see `_stored_segments`)."""
        plans: list[TicketPlan] = []
        for request in query.requests:
            segments = await self._stored_segments(request)
            plans.append(
                TicketPlan(
                    request.symbol, request.interval, request.start, request.end, tuple(segments)
                )
            )
        return plans, await self._count_stored(plans), []

    async def _count_stored(self, plans: Sequence[TicketPlan]) -> int:
        """The rows DoGet will stream for the segments of `plans` (estimated when large)."""
        queries = [
            BarQuery.build(p.symbol, p.interval, s.start, s.end, provider=s.provider)
            for p in plans
            for s in p.segments
        ]
        if not queries:
            return 0
        assert self.store is not None
        return await self.store.pool.run(lambda conn: _count(conn, queries), doing="counting bars")

    async def _stored_segments(self, request: BarRequest) -> list[Segment]:
        """Which provider's stored bars serve each part of the range, without asking providers.

        Provider-aware: that provider. Symbol-centric: where providers fetched the range, the
        gateway's sticky rule (coverage); the rest (e.g. imported data, which has no coverage)
        from the provider with the most stored bars of the series.
        """
        assert self.store is not None
        start, end = request.start, request.end
        if request.provider is not None:
            return [Segment(start, end, request.provider)]
        store = self.store
        datasets = [
            d for d in await store.datasets(request.symbol) if d.interval == request.interval.value
        ]
        if not datasets:
            return []
        by_rows = [d.provider for d in sorted(datasets, key=lambda d: (-d.rows, d.provider))]
        if len(by_rows) == 1:
            return [Segment(start, end, by_rows[0])]
        covered = {
            slug: await store.covered(request.symbol, request.interval, slug, start, end)
            for slug in by_rows
        }
        segments, free = assign(start, end, covered, by_rows)
        segments += [Segment(hole.start, hole.end, by_rows[0]) for hole in free]
        return merge(segments)

    async def _derived(self, plan: TicketPlan) -> BarAnswer:
        assert self.history is not None
        request = BarRequest(
            symbol=plan.symbol,
            interval=plan.interval,
            start=plan.start,
            end=plan.end,
            provider=plan.provider,
        )
        return await self.history.get(request)


def _ticket_plan(request: BarRequest, answer: BarAnswer) -> TicketPlan:
    if answer.segments is None:
        return TicketPlan(
            request.symbol,
            request.interval,
            request.start,
            request.end,
            derived=True,
            provider=request.provider,
        )
    segments = []
    for seg in answer.segments:
        lo, hi = max(seg.start, request.start), min(seg.end, request.end)
        if lo < hi:
            segments.append(Segment(lo, hi, seg.provider))
    return TicketPlan(request.symbol, request.interval, request.start, request.end, tuple(segments))


#: Below this planner estimate the rows are counted exactly (cheap); above it the estimate is
#: the FlightInfo's row count (counting would scan the rows DoGet is about to stream).
EXACT_COUNT_BELOW = 200_000


def _count(conn: Connection, queries: Sequence[BarQuery]) -> int:
    """The rows of `queries`: exact for small results, the planner's estimate for large ones."""
    total = 0
    with conn.cursor() as cur:
        for query in queries:
            sql = query.sql()
            cur.execute("SELECT timebase_row_estimate($1)", parameters=(sql,))
            ((estimate,),) = cur.fetchall()
            if estimate is not None and int(estimate) >= EXACT_COUNT_BELOW:
                total += int(estimate)
                continue
            cur.execute(f"SELECT count(*) FROM ({sql}) AS q")
            ((count,),) = cur.fetchall()
            total += int(count)
    return total


def _apply_options(table: pa.Table, options: PutOptions) -> pa.Table:
    """Fill `provider` / `interval` from the descriptor; reject a batch that contradicts it."""
    for name, value in (
        ("provider", options.provider),
        ("interval", options.interval.value if options.interval else None),
    ):
        if name not in table.column_names:
            if value is None:
                raise InvalidDataError(
                    f"missing column {name!r}: give it in the batch or in the descriptor "
                    f'({{"provider": "...", "interval": "1d"}})',
                    column=name,
                )
            table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), len(table)))
            continue
        column = table[name]
        if value is not None:
            differs = pc.fill_null(pc.not_equal(column.cast(pa.string()), value), True)
            if pc.any(differs).as_py():
                row = int(pc.index(differs, True).as_py())
                raise InvalidDataError(
                    f"row {row}, column {name!r}: {column[row].as_py()!r} contradicts the "
                    f"descriptor's {name} {value!r}; nothing was written",
                    row=row,
                    column=name,
                )
    if table.num_rows and "provider" in table.column_names:
        for slug in pc.unique(table["provider"].cast(pa.string())).to_pylist():
            if slug is None:
                continue
            try:
                check_provider(slug)
            except TimeBaseError:
                row = int(pc.index(table["provider"], slug).as_py())
                raise InvalidDataError(
                    f"row {row}, column 'provider': {slug!r} is not a provider name "
                    "(a-z, 0-9, '-', '_', starting with a letter or digit); nothing was written",
                    row=row,
                    column="provider",
                ) from None
    return table


def _criteria_error() -> TimeBaseError:
    return InvalidRequestError(
        'criteria: expected nothing or a JSON object like {"symbol": "AAPL"}', field="criteria"
    )


class _FlightService(flight.FlightServerBase):  # type: ignore[misc]
    """The pyarrow server: each call in a correlation scope, errors mapped in one place."""

    def __init__(self, location: str, owner: FlightServer) -> None:
        middleware = (
            {"metrics": FlightMetricsFactory(owner.metrics)} if owner.metrics is not None else None
        )
        super().__init__(location, middleware=middleware)
        self.owner = owner

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        with correlation_scope():
            try:
                return self.owner.flight_info(descriptor)
            except Exception as exc:
                raise to_flight_error(exc, "planning a query") from None

    def get_schema(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        return flight.SchemaResult(BAR_SCHEMA)

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.FlightDataStream:
        with correlation_scope():
            try:
                return self.owner.stream(ticket.ticket)
            except Exception as exc:
                raise to_flight_error(exc, "reading bars") from None

    def list_flights(
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        with correlation_scope():
            try:
                infos = self.owner.datasets(criteria or b"")
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
                result = self.owner.ingest(descriptor, reader)
            except Exception as exc:
                raise to_flight_error(exc, "ingesting bars") from None
            writer.write(pa.py_buffer(json.dumps(result).encode()))


__all__ = ["DEFAULT_PORT", "FlightServer"]
