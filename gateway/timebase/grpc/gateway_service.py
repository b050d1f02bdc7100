"""`timebase.v1.GatewayService`: GetBars (columnar), GetEvents, ListProviders, GetSymbolProviders,
InvalidateRange, SearchSymbols, RefreshSymbols (write), ListWatchlists, GetSummary, and the
admin RPCs InstallProvider (from a folder or a Git repository) / UpdateProvider /
SetProviderEnabled / RefreshProvider / RemoveProvider (through the supervisor;
UNIMPLEMENTED when the server has none) and ListAuditEntries. Each RPC parses its request, asks
the query API and renders the answer (`render`); the core audits writes and admin actions, and
a write whose request does not parse is audited here as refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa

import grpc
from timebase.audit import AuditAction, build_filter
from timebase.gateway.bar_columns import table_to_chunks
from timebase.gateway.bar_limits import BarLimit
from timebase.gateway.bar_request import (
    build_request,
    check_interval,
    check_provider,
    check_range,
    check_symbol,
)
from timebase.gateway.catalogue import check_search
from timebase.gateway.query import QueryApi
from timebase.grpc import render, render_status
from timebase.grpc.auth import caller_of
from timebase.grpc.data_provider_service import (
    grpc_limit,
    request_scope,
    stream_answer,
    warnings_metadata,
)
from timebase.grpc.errors import abort_with
from timebase.grpc.rendered import RenderedAnswers
from timebase.grpc.request_parsing import request_timestamp
from timebase.sdk.intervals import Interval
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

Context = grpc.aio.ServicerContext[Any, Any]

T = TypeVar("T")


class GatewayService(v1_grpc.GatewayServiceServicer):
    def __init__(
        self,
        api: QueryApi,
        bar_limit: BarLimit | None = None,
        rendered: RenderedAnswers | None = None,
    ) -> None:
        self.api = api
        self.bar_limit = bar_limit or grpc_limit()
        #: Answers read from the hot tier, kept serialized (a repeat is sent as the same bytes).
        self.rendered = rendered if rendered is not None else RenderedAnswers()

    async def GetBars(
        self, request: v1.GetBarsRequest, context: Context
    ) -> AsyncIterator[v1.GetBarsResponse]:
        with request_scope(context):
            async for chunk in stream_answer(
                self.api,
                request,
                context,
                "GetBars",
                self.bar_limit,
                render_table=lambda table: self.rendered.render(table, "GetBars", _columnar),
            ):
                yield chunk

    async def GetEvents(
        self, request: v1.GetEventsRequest, context: Context
    ) -> v1.GetEventsResponse:
        with request_scope(context):
            try:
                bar_request = build_request(
                    symbol=request.symbol,
                    interval=request.interval or Interval.D1.value,
                    start=request_timestamp(request, "start_time"),
                    end=request_timestamp(request, "end_time"),
                    provider=request.provider,
                    bar_limit=self.bar_limit,
                )
                events, answer = await self.api.events(
                    bar_request, time_limit=context.time_remaining(), caller=caller_of(context)
                )
            except Exception as exc:
                await abort_with(context, exc, "GetEvents")
            context.set_trailing_metadata(warnings_metadata(answer.warnings, answer.calendar))
            return render.events(bar_request.symbol, bar_request.interval.value, events)

    async def ListProviders(
        self, request: v1.ListProvidersRequest, context: Context
    ) -> v1.ListProvidersResponse:
        with request_scope(context):
            listing = await _or_abort(context, "ListProviders", self.api.providers)
            return v1.ListProvidersResponse(providers=[render.provider_info(p) for p in listing])

    async def GetSymbolProviders(
        self, request: v1.GetSymbolProvidersRequest, context: Context
    ) -> v1.GetSymbolProvidersResponse:
        with request_scope(context):
            try:
                interval = check_interval(request.interval) if request.interval else Interval.D1
                answer = await self.api.symbol_providers(request.symbol, interval)
            except Exception as exc:
                await abort_with(context, exc, "GetSymbolProviders")
            return render.symbol_providers(answer)

    async def InvalidateRange(
        self, request: v1.InvalidateRangeRequest, context: Context
    ) -> v1.InvalidateRangeResponse:
        with request_scope(context):
            caller = caller_of(context)
            try:
                try:
                    symbol = check_symbol(request.symbol)
                    interval = check_interval(request.interval)
                    provider = check_provider(request.provider)
                    start, end = check_range(
                        request_timestamp(request, "start_time"),
                        request_timestamp(request, "end_time"),
                    )
                except Exception as exc:
                    await self.api.refused(
                        caller, AuditAction.INVALIDATE, exc, symbol=request.symbol[:200] or None
                    )
                    raise
                done = await self.api.invalidate(
                    symbol, interval, start, end, provider, caller=caller
                )
            except Exception as exc:
                await abort_with(context, exc, "InvalidateRange")
            return v1.InvalidateRangeResponse(
                deleted=done.deleted, providers=done.providers, kept=done.kept
            )

    async def SearchSymbols(
        self, request: v1.SearchSymbolsRequest, context: Context
    ) -> v1.SearchSymbolsResponse:
        with request_scope(context):
            try:
                query = check_search(
                    request.query, request.type, request.provider, request.limit, request.offset
                )
                page = await self.api.search_symbols(query)
            except Exception as exc:
                await abort_with(context, exc, "SearchSymbols")
            return render.symbol_page(page, query)

    async def RefreshSymbols(
        self, request: v1.RefreshSymbolsRequest, context: Context
    ) -> v1.RefreshSymbolsResponse:
        with request_scope(context):
            counts = await _or_abort(
                context,
                "RefreshSymbols",
                lambda: self.api.refresh_symbols(
                    request.provider.strip() or None, caller=caller_of(context)
                ),
            )
            return v1.RefreshSymbolsResponse(symbols=counts)

    async def ListWatchlists(
        self, request: v1.ListWatchlistsRequest, context: Context
    ) -> v1.ListWatchlistsResponse:
        with request_scope(context):
            states = self.api.watchlist_states()
            return v1.ListWatchlistsResponse(
                watchlists=[render_status.watchlist(s) for s in states]
            )

    async def GetSummary(
        self, request: v1.GetSummaryRequest, context: Context
    ) -> v1.GetSummaryResponse:
        with request_scope(context):
            answer = await _or_abort(
                context, "GetSummary", lambda: self.api.summary(request.symbol)
            )
            return render_status.summary(answer)

    # -- admin ------------------------------------------------------------------------------

    async def InstallProvider(
        self, request: v1.InstallProviderRequest, context: Context
    ) -> v1.InstallProviderResponse:
        with request_scope(context):
            info = await _or_abort(
                context,
                "InstallProvider",
                lambda: self.api.install_provider(
                    request.folder,
                    repository=request.repository,
                    slug=request.slug,
                    caller=caller_of(context),
                ),
            )
            return v1.InstallProviderResponse(provider=render.provider_info(info))

    async def UpdateProvider(
        self, request: v1.UpdateProviderRequest, context: Context
    ) -> v1.UpdateProviderResponse:
        with request_scope(context):
            info = await _or_abort(
                context,
                "UpdateProvider",
                lambda: self.api.update_provider(request.slug, caller=caller_of(context)),
            )
            return v1.UpdateProviderResponse(provider=render.provider_info(info))

    async def SetProviderEnabled(
        self, request: v1.SetProviderEnabledRequest, context: Context
    ) -> v1.SetProviderEnabledResponse:
        with request_scope(context):
            info = await _or_abort(
                context,
                "SetProviderEnabled",
                lambda: self.api.set_provider_enabled(
                    request.slug, request.enabled, caller=caller_of(context)
                ),
            )
            return v1.SetProviderEnabledResponse(provider=render.provider_info(info))

    async def RefreshProvider(
        self, request: v1.RefreshProviderRequest, context: Context
    ) -> v1.RefreshProviderResponse:
        with request_scope(context):
            info = await _or_abort(
                context,
                "RefreshProvider",
                lambda: self.api.refresh_provider(request.slug, caller=caller_of(context)),
            )
            return v1.RefreshProviderResponse(provider=render.provider_info(info))

    async def RemoveProvider(
        self, request: v1.RemoveProviderRequest, context: Context
    ) -> v1.RemoveProviderResponse:
        with request_scope(context):
            await _or_abort(
                context,
                "RemoveProvider",
                lambda: self.api.remove_provider(request.slug, caller=caller_of(context)),
            )
            return v1.RemoveProviderResponse()

    async def ListAuditEntries(
        self, request: v1.ListAuditEntriesRequest, context: Context
    ) -> v1.ListAuditEntriesResponse:
        with request_scope(context):
            try:
                query = build_filter(
                    limit=request.limit or None,
                    cursor=request.cursor,
                    action=request.action,
                    key_name=request.key_name,
                    door=request.door,
                    symbol=request.symbol,
                    provider=request.provider,
                    outcome=request.outcome,
                    since=request_timestamp(request, "since"),
                    until=request_timestamp(request, "until"),
                )
                page = await self.api.audit_log(query, caller=caller_of(context))
            except Exception as exc:
                await abort_with(context, exc, "ListAuditEntries")
            return render.audit_page(page)


def _columnar(table: pa.Table) -> Iterator[v1.GetBarsResponse]:
    return table_to_chunks(table, v1.GetBarsResponse)


async def _or_abort(context: Context, rpc: str, call: Callable[[], Awaitable[T]]) -> T:
    """What `call()` answers; an error it raises (parsing, the caller, the core) ends the RPC
    with its status instead (`abort_with`)."""
    try:
        return await call()
    except Exception as exc:
        await abort_with(context, exc, rpc)
