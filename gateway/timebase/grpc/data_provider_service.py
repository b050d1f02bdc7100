"""The federated `timebase.provider.DataProvider`: the gateway as one provider knowing every symbol.

GetHistoricalData (one message per bar) and GetHistoricalBars (columnar chunks) answer from
`HistoricalBars` (routing, cache, failover, derived intervals); warnings go to the trailing
metadata `x-timebase-warnings`, sent after the data: a cold answer streams while its bars are
stored, and the store's outcome joins the trailer (`stream_answer`, `deferred_stores`). GetCapabilities is the union of the ready providers' (slug
`timebase-gateway`); HealthCheck reflects the database and the providers. StreamRealTimeData is
delegated to the real-time fan-out when one is attached (`realtime`), else UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import pyarrow as pa
from google.protobuf import empty_pb2

import grpc
from timebase.gateway.bar_columns import table_to_chunks, table_to_messages
from timebase.gateway.bar_limits import DEFAULT_MAX_BARS, BarLimit
from timebase.gateway.bar_warnings import (
    WARNINGS_METADATA_KEY,
    BarWarning,
    dedupe,
    encode_warnings,
)
from timebase.gateway.deferred_stores import reporting_stores
from timebase.gateway.derived_intervals import DERIVED_FROM
from timebase.gateway.history import BarAnswer
from timebase.gateway.query import QueryApi
from timebase.grpc import render
from timebase.grpc.auth import caller_of
from timebase.grpc.errors import abort_with
from timebase.grpc.realtime import RealtimeHandler, stream_realtime
from timebase.grpc.rendered import RenderedAnswers
from timebase.grpc.request_parsing import (
    CORRELATION_METADATA_KEY,
    metadata_value,
    parse_bar_request,
)
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.conventions import VERSION
from timebase.sdk.intervals import INTERVALS
from timebase.sdk.logs import correlation_scope

GATEWAY_SLUG = "timebase-gateway"
GATEWAY_NAME = "TimeBase gateway"
GATEWAY_VERSION = VERSION

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


#: gRPC trailing-metadata key naming the trading calendar that applied (docs/calendars.md).
CALENDAR_METADATA_KEY = "x-timebase-calendar"


def warnings_metadata(
    warnings: list[BarWarning], calendar: str | None = None
) -> tuple[tuple[str, str], ...]:
    """The trailer of a bar answer: its warnings and the calendar that applied (when any)."""
    out = ((WARNINGS_METADATA_KEY, encode_warnings(warnings)),) if warnings else ()
    return out + (((CALENDAR_METADATA_KEY, calendar),) if calendar else ())


def grpc_limit(max_bars: int = DEFAULT_MAX_BARS) -> BarLimit:
    """The gRPC door's size limit (`grpc.max_bars`)."""
    return BarLimit(max_bars, "grpc.max_bars", "one gRPC answer", ", or use Arrow Flight")


async def answer_request(
    api: QueryApi, request: Any, context: Context, rpc: str, bar_limit: BarLimit | None = None
) -> BarAnswer:
    """Parse (the size estimated against `bar_limit` before any work), resolve (honouring the
    client's deadline) and set the warnings trailer; on any failure, end the RPC with the
    error's status (the one error boundary of the bar RPCs)."""
    try:
        bar_request = parse_bar_request(request, context.invocation_metadata(), bar_limit)
        answer = await api.bars(
            bar_request, time_limit=context.time_remaining(), caller=caller_of(context)
        )
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception as exc:
        await abort_with(context, exc, rpc)
    context.set_trailing_metadata(warnings_metadata(answer.warnings, answer.calendar))
    return answer


async def stream_answer(
    api: QueryApi,
    request: Any,
    context: Context,
    rpc: str,
    bar_limit: BarLimit | None,
    *,
    render_table: Callable[[pa.Table], Iterable[T]],
) -> AsyncIterator[T]:
    """`answer_request`, streamed as `render_table` renders it, without waiting for the stores
    of a cold answer; the warnings they decide (STORE_FAILED, INVALID_BARS_SKIPPED) join the
    trailer once they finished, after the data."""
    with reporting_stores() as reports:
        answer = await answer_request(api, request, context, rpc, bar_limit)
    for message in render_table(answer.table):
        yield message
    late = await reports.settle(api.store, answer.plan)
    if late:
        warnings = dedupe([*answer.warnings, *late])
        context.set_trailing_metadata(warnings_metadata(warnings, answer.calendar))


def _bar_chunks(table: pa.Table) -> Iterable[pb.BarChunk]:
    return table_to_chunks(table, pb.BarChunk)


def request_scope(context: Context) -> Any:
    return correlation_scope(
        metadata_value(context.invocation_metadata(), CORRELATION_METADATA_KEY)
    )


class DataProviderService(pb_grpc.DataProviderServicer):
    def __init__(
        self,
        api: QueryApi,
        realtime: RealtimeHandler | None = None,
        bar_limit: BarLimit | None = None,
        rendered: RenderedAnswers | None = None,
    ) -> None:
        self.api = api
        self.bar_limit = bar_limit or grpc_limit()
        #: Answers read from the hot tier, kept serialized (a repeat is sent as the same bytes).
        self.rendered = rendered if rendered is not None else RenderedAnswers()
        #: The real-time fan-out; StreamRealTimeData answers UNIMPLEMENTED while it is None.
        self.realtime = realtime

    async def GetCapabilities(
        self, request: empty_pb2.Empty, context: Context
    ) -> pb.ProviderCapabilities:
        manifests = [
            p.manifest for p in self.api.provider_views() if p.ready and p.manifest is not None
        ]
        native = {i for m in manifests for i in m.intervals}
        derivable = {t.value for t, base in DERIVED_FROM.items() if base.value in native}
        intervals = [i for i in INTERVALS if i in native | derivable]
        data_types = sorted({t for m in manifests for t in m.data_types})
        return pb.ProviderCapabilities(
            name=GATEWAY_NAME,
            version=GATEWAY_VERSION,
            slug=GATEWAY_SLUG,
            supports_historical=any(m.capabilities.historical_data for m in manifests),
            supports_realtime=self.realtime is not None
            and any(m.capabilities.real_time_streaming for m in manifests),
            supports_backfill=any(m.capabilities.backfill for m in manifests),
            data_types=data_types,
            intervals=intervals,
            rate_limits=pb.RateLimits(),
        )

    async def HealthCheck(self, request: empty_pb2.Empty, context: Context) -> pb.HealthStatus:
        return render.health_status(await self.api.health())

    async def GetSymbols(self, request: empty_pb2.Empty, context: Context) -> pb.SymbolList:
        """The union of the providers' catalogues; each symbol's providers in
        metadata["providers"] ("a,b")."""
        with request_scope(context):
            try:
                symbols = await self.api.federated_symbols()
            except Exception as exc:
                await abort_with(context, exc, "GetSymbols")
            return render.symbol_list(symbols)

    async def GetHistoricalData(
        self, request: pb.HistoricalDataRequest, context: Context
    ) -> AsyncIterator[pb.TimeSeriesData]:
        with request_scope(context):
            async for message in stream_answer(
                self.api,
                request,
                context,
                "GetHistoricalData",
                self.bar_limit,
                render_table=lambda table: self.rendered.render(
                    table, "GetHistoricalData", table_to_messages
                ),
            ):
                yield message

    async def GetHistoricalBars(
        self, request: pb.HistoricalDataRequest, context: Context
    ) -> AsyncIterator[pb.BarChunk]:
        with request_scope(context):
            async for chunk in stream_answer(
                self.api,
                request,
                context,
                "GetHistoricalBars",
                self.bar_limit,
                render_table=lambda table: self.rendered.render(
                    table, "GetHistoricalBars", _bar_chunks
                ),
            ):
                yield chunk

    async def StreamRealTimeData(
        self, request_iterator: AsyncIterator[pb.StreamControl], context: Context
    ) -> AsyncIterator[pb.TimeSeriesData]:
        if self.realtime is None:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, "real-time streaming is not available yet"
            )
            return
        async for message in stream_realtime(self.realtime, request_iterator, context):
            yield message
