"""The `timebase.provider.DataProvider` contract over a `Provider` (`ProviderServicer`).

Every RPC, including the columnar `GetHistoricalBars` and real-time streaming: the SDK checks
requests before the author's code runs, checks the bars that come out, and answers errors with
`timebase.sdk.status`. The server around it (listening, health, reflection) is
`timebase.sdk.server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf import empty_pb2

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.bar_rules import value_problem
from timebase.sdk.errors import ErrorKind, InvalidArgument, NotSupported, TimeBaseError
from timebase.sdk.manifest import Manifest
from timebase.sdk.provider import (
    Bar,
    HealthState,
    Provider,
    RealTimeBar,
    Subscription,
    Subscriptions,
    SymbolInfo,
)
from timebase.sdk.status import to_rpc_status
from timebase.sdk.validation import BarValidator, Columns, metadata_json, to_micros
from timebase.sdk.wire import (
    HistoricalQuery,
    check_interval,
    check_symbol,
    columns_to_chunks,
    columns_to_messages,
    parse_historical_request,
    to_timestamp_pb,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("timebase.sdk.server")  # one logger for the server and its RPCs

WARNINGS_KEY = "x-timebase-warnings"
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["DataProvider"].full_name
_FLUSH_BARS = 1024
_FLUSH_SECONDS = 0.25

T = TypeVar("T")
_HEALTH_TIMEOUT = 5.0
_STREAM_QUEUE = 1024


class ProviderServicer(pb_grpc.DataProviderServicer):
    """DataProvider for one provider."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.manifest = provider.manifest
        self.slug = provider.manifest.slug

    # -- error boundary --------------------------------------------------------------------

    async def _abort(
        self, context: grpc.aio.ServicerContext[Any, Any], exc: BaseException, rpc: str
    ) -> None:
        if isinstance(exc, TimeBaseError):
            if exc.kind not in (ErrorKind.INVALID, ErrorKind.UNIMPLEMENTED):
                log.warning("%s failed: %s: %s", rpc, type(exc).__name__, exc.message)
        else:
            log.error("%s failed with an unexpected error", rpc, exc_info=exc)
        status = to_rpc_status(exc)
        await context.abort(status.code, status.message, trailing_metadata=status.trailing_metadata)

    # -- unary -----------------------------------------------------------------------------

    async def GetCapabilities(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ProviderCapabilities:
        return capabilities_message(self.manifest, self.provider)

    async def HealthCheck(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.HealthStatus:
        state, message, metrics = await probe_health(self.provider)
        return pb.HealthStatus(
            status={
                HealthState.HEALTHY: pb.HealthStatus.HEALTHY,
                HealthState.DEGRADED: pb.HealthStatus.DEGRADED,
                HealthState.UNHEALTHY: pb.HealthStatus.UNHEALTHY,
            }[state],
            message=message,
            timestamp=to_timestamp_pb(datetime.now(UTC)),
            metrics=dict(metrics),
        )

    async def GetSymbols(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SymbolList:
        try:
            return symbol_list(await self.provider.symbols(), self.manifest)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._abort(context, exc, "GetSymbols")
            raise  # pragma: no cover - abort raises

    # -- historical ------------------------------------------------------------------------

    async def _columns(
        self, query: HistoricalQuery, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Columns]:
        """The provider's valid bars as column blocks (one block at the end when limited)."""
        validator = BarValidator(query.interval, query.start, query.end)
        kept = Columns()
        pending: list[Bar] = []
        source = self.provider.get_historical_data(
            query.symbol, query.interval, query.start, query.end, query.limit
        )

        def flush() -> Columns:
            block = validator.bars(pending)
            pending.clear()
            return block

        try:
            async for item in _paced(source, _FLUSH_SECONDS):
                if item is _PAUSED:  # a slow provider: send what it has yielded so far
                    if not pending or query.limit is not None:
                        continue
                    block = flush()
                elif isinstance(item, Bar):
                    pending.append(item)
                    if len(pending) < _FLUSH_BARS:
                        continue
                    block = flush()
                else:
                    block = flush() if pending else Columns()
                    block.extend(validator.batch(_as_batch(item)))
                if query.limit is None:
                    if len(block):
                        yield block
                else:
                    kept.extend(block)
                    kept.keep_last(query.limit)
            if pending:
                kept.extend(flush())
            if query.limit is not None:
                kept.keep_last(query.limit)
            if len(kept):
                yield kept
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
        self._report_skipped(validator, query, context)

    def _report_skipped(
        self,
        validator: BarValidator,
        query: HistoricalQuery,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        """Log the invalid bars skipped and tell the client in the warnings trailer."""
        if not validator.skipped_total:
            return
        message = validator.describe_skipped()
        log.warning(
            "%s %s [%s, %s): %s",
            query.symbol,
            query.interval,
            query.start.isoformat(),
            query.end.isoformat(),
            message,
        )
        warning = {
            "code": "INVALID_BARS_SKIPPED",
            "message": message,
            "provider": self.slug,
            "count": validator.skipped_total,
        }
        context.set_trailing_metadata(((WARNINGS_KEY, json.dumps([warning])),))

    def _query(self, request: pb.HistoricalDataRequest) -> HistoricalQuery:
        if not self.manifest.capabilities.historical_data:
            raise NotSupported(f"provider {self.slug!r} does not serve historical data")
        return parse_historical_request(request, self.manifest)

    async def GetHistoricalData(
        self, request: pb.HistoricalDataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.TimeSeriesData]:
        try:
            query = self._query(request)
            async for block in self._columns(query, context):
                for msg in columns_to_messages(block, query.symbol, query.interval, self.slug):
                    yield msg
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._abort(context, exc, "GetHistoricalData")

    async def GetHistoricalBars(
        self, request: pb.HistoricalDataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.BarChunk]:
        try:
            query = self._query(request)
            async for block in self._columns(query, context):
                for chunk in columns_to_chunks(block, query.symbol, query.interval, self.slug):
                    yield chunk
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._abort(context, exc, "GetHistoricalBars")

    # -- real time -------------------------------------------------------------------------

    async def StreamRealTimeData(
        self,
        request_iterator: AsyncIterator[pb.StreamControl],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.TimeSeriesData]:
        if not (
            self.manifest.capabilities.real_time_streaming and self.provider.implements_real_time()
        ):
            await self._abort(
                context,
                NotSupported(f"provider {self.slug!r} does not stream real-time data"),
                "StreamRealTimeData",
            )
            return
        subs = Subscriptions()
        queue: asyncio.Queue[RealTimeBar | BaseException | None] = asyncio.Queue(_STREAM_QUEUE)

        async def read_controls() -> None:
            try:
                async for control in request_iterator:
                    self._apply_control(subs, control)
                subs.close()
            except Exception as exc:
                await queue.put(exc)

        async def produce() -> None:
            try:
                async for item in self.provider.stream_real_time(subs):
                    await queue.put(item)
                await queue.put(None)
            except Exception as exc:
                await queue.put(exc)

        tasks = [asyncio.create_task(read_controls()), asyncio.create_task(produce())]
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    await self._abort(context, item, "StreamRealTimeData")
                    return
                msg = self._realtime_message(item, subs)
                if msg is not None:
                    yield msg
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _apply_control(self, subs: Subscriptions, control: pb.StreamControl) -> None:
        action = control.action
        if action == pb.StreamControl.PAUSE:
            subs.pause()
        elif action == pb.StreamControl.RESUME:
            subs.resume()
        elif action == pb.StreamControl.SUBSCRIBE:
            symbol = check_symbol(control.symbol, self.manifest)
            interval = check_interval(control.interval, self.manifest)
            subs.subscribe(Subscription(symbol, interval, dict(control.options)))
        elif action == pb.StreamControl.UNSUBSCRIBE:
            symbol = check_symbol(control.symbol, self.manifest)
            if control.interval:
                check_interval(control.interval, self.manifest)
            subs.unsubscribe(symbol, control.interval)
        else:
            raise InvalidArgument(f"action: unknown action {action}")

    def _realtime_message(self, item: RealTimeBar, subs: Subscriptions) -> pb.TimeSeriesData | None:
        if not subs.wants(item.symbol, item.interval):
            return None
        bar = item.bar
        try:
            values = (
                float(bar.open),
                float(bar.high),
                float(bar.low),
                float(bar.close),
                float(bar.volume),
            )
            meta = metadata_json(bar.metadata)
            to_micros(bar.timestamp)
        except (TypeError, ValueError, AttributeError, OverflowError):
            log.warning("real-time bar for %s %s skipped: malformed", item.symbol, item.interval)
            return None
        reason = value_problem(*values)
        if reason is not None:
            log.warning("real-time bar for %s %s skipped: %s", item.symbol, item.interval, reason)
            return None
        cols = Columns(
            [to_micros(bar.timestamp)],
            [values[0]],
            [values[1]],
            [values[2]],
            [values[3]],
            [values[4]],
            [meta],
        )
        return next(columns_to_messages(cols, item.symbol, item.interval, self.slug))


def _as_batch(item: Any) -> pa.RecordBatch:
    """A RecordBatch (a Table is accepted too and combined into one batch)."""
    import pyarrow as pa

    if isinstance(item, pa.RecordBatch):
        return item
    if isinstance(item, pa.Table):
        return (
            item.combine_chunks().to_batches()[0]
            if item.num_rows
            else pa.RecordBatch.from_pylist([])
        )
    raise TypeError(
        f"get_historical_data yielded {type(item).__name__}, expected Bar or pyarrow.RecordBatch"
    )


async def probe_health(provider: Provider) -> tuple[HealthState, str, Mapping[str, str]]:
    try:
        report = await asyncio.wait_for(provider.health(), _HEALTH_TIMEOUT)
    except TimeoutError:
        return HealthState.UNHEALTHY, f"health check timed out after {_HEALTH_TIMEOUT:g} s", {}
    except Exception as exc:
        log.warning("health check failed: %s", exc, exc_info=exc)
        return HealthState.UNHEALTHY, f"health check failed ({type(exc).__name__})", {}
    return report.state, report.message, {str(k): str(v) for k, v in report.metrics.items()}


def symbol_list(symbols: Sequence[SymbolInfo], manifest: Manifest) -> pb.SymbolList:
    """The provider's catalogue as a `SymbolList`: symbols upper-cased, checked against the
    manifest's patterns (a symbol it could not serve is a bug: INTERNAL naming it), unique."""
    out = pb.SymbolList()
    seen: set[str] = set()
    for info in symbols:
        if not isinstance(info, SymbolInfo):
            raise TypeError(f"symbols() returned {type(info).__name__}, expected SymbolInfo")
        symbol = info.symbol.strip().upper()
        try:
            check_symbol(symbol, manifest)
        except InvalidArgument as exc:
            raise ValueError(f"symbols() listed {info.symbol!r}: {exc.message}") from None
        if symbol in seen:
            continue
        seen.add(symbol)
        out.symbols.append(
            pb.SymbolInfo(
                symbol=symbol,
                name=info.name,
                type=info.type,
                intervals=list(info.intervals),
                metadata={str(k): str(v) for k, v in info.metadata.items()},
            )
        )
    return out


def capabilities_message(
    manifest: Manifest, provider: Provider | None = None
) -> pb.ProviderCapabilities:
    """ProviderCapabilities as the manifest declares them."""
    caps = manifest.capabilities
    lookback = manifest.max_lookback_days.get("default")
    if lookback is None and manifest.max_lookback_days:
        lookback = max(manifest.max_lookback_days.values())
    msg = pb.ProviderCapabilities(
        name=manifest.name,
        version=manifest.version,
        slug=manifest.slug,
        supports_historical=caps.historical_data,
        supports_realtime=caps.real_time_streaming,
        supports_backfill=caps.backfill,
        data_types=list(manifest.data_types),
        intervals=list(manifest.intervals),
        rate_limits=pb.RateLimits(
            requests_per_minute=manifest.rate_limits.requests_per_minute or 0,
            requests_per_day=manifest.rate_limits.requests_per_day or 0,
        ),
    )
    if lookback is not None:
        msg.max_lookback_days = lookback
    return msg


#: What `_paced` yields when the source has kept the consumer waiting.
_PAUSED: Any = object()


async def _paced(source: AsyncIterator[T], pause: float) -> AsyncIterator[T]:
    """The items of `source`, plus `_PAUSED` each time the next item takes longer than `pause`
    seconds — so bars a slow provider already yielded are sent while it fetches more (and
    reach the gateway even if the provider dies later). The source itself is never cancelled
    between items."""
    items = source.__aiter__()
    upcoming: asyncio.Future[T] | None = None
    try:
        while True:
            if upcoming is None:
                upcoming = asyncio.ensure_future(items.__anext__())
            done, _ = await asyncio.wait({upcoming}, timeout=pause)
            if not done:
                yield _PAUSED
                continue
            try:
                item = upcoming.result()
            except StopAsyncIteration:
                return
            upcoming = None
            yield item
    finally:
        if upcoming is not None and not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await upcoming
