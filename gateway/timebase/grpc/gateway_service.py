"""`timebase.v1.GatewayService`: GetBars (columnar), ListProviders, GetSymbolProviders,
InvalidateRange, and the admin RPCs InstallProvider / RemoveProvider (through the supervisor;
UNIMPLEMENTED when the server has none)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from timebase.gateway.admin import ProviderAdmin, ProviderInstaller
from timebase.gateway.bar_columns import table_to_chunks
from timebase.gateway.bar_request import check_interval, check_provider, check_symbol
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import ProviderView
from timebase.grpc.data_provider_service import answer_request, request_scope
from timebase.grpc.errors import abort_with
from timebase.grpc.request_parsing import request_timestamp
from timebase.sdk.errors import InvalidTimeRangeError
from timebase.sdk.intervals import Interval
from timebase.sdk.wire import to_timestamp_pb
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class GatewayService(v1_grpc.GatewayServiceServicer):
    def __init__(
        self, history: HistoricalBars, supervisor: ProviderInstaller | None = None
    ) -> None:
        self.history = history
        self.admin = ProviderAdmin(supervisor, history)

    async def GetBars(
        self, request: v1.GetBarsRequest, context: Context
    ) -> AsyncIterator[v1.GetBarsResponse]:
        with request_scope(context):
            answer = await answer_request(self.history, request, context, "GetBars")
            for chunk in table_to_chunks(answer.table, v1.GetBarsResponse):
                yield chunk

    async def ListProviders(
        self, request: v1.ListProvidersRequest, context: Context
    ) -> v1.ListProvidersResponse:
        with request_scope(context):
            try:
                return await self._list_providers()
            except Exception as exc:
                await abort_with(context, exc, "ListProviders")
                raise  # pragma: no cover - abort raises

    async def _list_providers(self) -> v1.ListProvidersResponse:
        history = self.history
        running = history.providers()
        out = [self._provider_info(view) for view in running]
        known = {v.slug for v in running}
        stored = sorted({d.provider for d in await history.store.datasets()} - known)
        out.extend(v1.ProviderInfo(slug=slug, status="stored") for slug in stored)
        return v1.ListProvidersResponse(providers=out)

    def _provider_info(self, view: ProviderView) -> v1.ProviderInfo:
        history = self.history
        manifest = view.manifest
        info = v1.ProviderInfo(
            slug=view.slug,
            status="disabled" if view.slug in history.router.disabled else str(view.status),
            address=view.address or "",
            latency_ms=view.latency_ms or 0.0,
            uptime=view.uptime or 0.0,
            restarts=view.restarts,
            last_error=view.last_error or history.router.disabled.get(view.slug, ""),
            circuit=history.breaker.state(view.slug),
        )
        if manifest is not None:
            info.name = manifest.name
            info.version = manifest.version
            info.intervals.extend(manifest.intervals)
            info.symbol_patterns.extend(p.pattern for p in manifest.symbols)
            info.supports_historical = manifest.capabilities.historical_data
            info.supports_realtime = manifest.capabilities.real_time_streaming
            info.cost = manifest.cost
            limits = manifest.rate_limits
            use = history.quota.use(view.slug)
            info.quota.requests_per_minute_limit = limits.requests_per_minute or 0
            info.quota.requests_per_day_limit = limits.requests_per_day or 0
            info.quota.requests_this_minute = use.minute_used
            info.quota.requests_today = use.day_used
            if use.blocked_until is not None:
                info.quota.blocked_until.CopyFrom(to_timestamp_pb(use.blocked_until))
        return info

    async def GetSymbolProviders(
        self, request: v1.GetSymbolProvidersRequest, context: Context
    ) -> v1.GetSymbolProvidersResponse:
        with request_scope(context):
            try:
                symbol = check_symbol(request.symbol)
                interval = check_interval(request.interval) if request.interval else Interval.D1
                decision = await self.history.rank(symbol, interval)
            except Exception as exc:
                await abort_with(context, exc, "GetSymbolProviders")
                raise  # pragma: no cover - abort raises
            reply = v1.GetSymbolProvidersResponse(symbol=symbol, interval=interval.value)
            for rank, candidate in enumerate(decision.candidates, start=1):
                ranked = reply.candidates.add(
                    slug=candidate.slug,
                    rank=rank,
                    derived_from=candidate.derived_from.value if candidate.derived_from else "",
                    reasons=list(candidate.reasons),
                )
                if candidate.latest is not None:
                    ranked.latest_stored.CopyFrom(to_timestamp_pb(candidate.latest))
            for slug, reason in sorted(decision.excluded.items()):
                reply.excluded.add(slug=slug, reason=reason)
            return reply

    async def InvalidateRange(
        self, request: v1.InvalidateRangeRequest, context: Context
    ) -> v1.InvalidateRangeResponse:
        with request_scope(context):
            try:
                symbol = check_symbol(request.symbol)
                interval = check_interval(request.interval)
                provider = check_provider(request.provider)
                start = request_timestamp(request, "start_time")
                end = request_timestamp(request, "end_time")
                if start is None or end is None:
                    name = "start_time" if start is None else "end_time"
                    raise InvalidTimeRangeError(f"{name}: required", field=name)
                if not start < end:
                    raise InvalidTimeRangeError(
                        f"start_time: must be before end_time (got start_time="
                        f"{start.isoformat()}, end_time={end.isoformat()})",
                        field="start_time",
                    )
                deleted, providers = await self.history.invalidate(
                    symbol, interval, start, end, provider
                )
            except Exception as exc:
                await abort_with(context, exc, "InvalidateRange")
                raise  # pragma: no cover - abort raises
            return v1.InvalidateRangeResponse(deleted=deleted, providers=providers)

    # -- admin ------------------------------------------------------------------------------

    async def InstallProvider(
        self, request: v1.InstallProviderRequest, context: Context
    ) -> v1.InstallProviderResponse:
        with request_scope(context):
            try:
                state = await self.admin.install(request.folder)
            except Exception as exc:
                await abort_with(context, exc, "InstallProvider")
                raise  # pragma: no cover - abort raises
            view = next((v for v in self.history.providers() if v.slug == state.slug), state)
            return v1.InstallProviderResponse(provider=self._provider_info(view))

    async def RemoveProvider(
        self, request: v1.RemoveProviderRequest, context: Context
    ) -> v1.RemoveProviderResponse:
        with request_scope(context):
            try:
                await self.admin.remove(request.slug)
            except Exception as exc:
                await abort_with(context, exc, "RemoveProvider")
                raise  # pragma: no cover - abort raises
            return v1.RemoveProviderResponse()
