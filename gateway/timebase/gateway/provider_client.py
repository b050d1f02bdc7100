"""Calls to one provider's `DataProvider` service over one grpc.aio channel.

`ProviderClient.fetch` streams bars of [start, end) as Arrow tables. It asks for the columnar
`GetHistoricalBars` first and falls back to the per-bar `GetHistoricalData` when the provider
answers UNIMPLEMENTED (remembered per client, so the fallback costs one round trip once).
Failures come out as `ProviderCallError` carrying the error's kind (this is the boundary where a
provider's gRPC status becomes an `ErrorKind`, via `timebase.sdk.status`), whether retrying may
help, the provider's message, the RetryInfo delay when there was one, and how many bars had
arrived before the failure.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
import pyarrow as pa
from google.protobuf import empty_pb2

from timebase.gateway.bar_columns import chunk_to_table, messages_to_table
from timebase.gateway.bar_warnings import WARNINGS_METADATA_KEY, BarWarning, decode_warnings
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.errors import ErrorKind
from timebase.sdk.status import (
    error_info_from_metadata,
    is_transient_status,
    kind_of_status,
    retry_after_from_metadata,
)
from timebase.sdk.wire import to_timestamp_pb

_log = logging.getLogger(__name__)

#: Per-bar messages gathered into one table on the fallback path.
_MESSAGES_PER_TABLE = 2048

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    # Reconnect quickly after a provider restart (the supervisor may reuse the address).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


class ProviderCallError(Exception):
    """A provider call failed: `kind` is what went wrong, `status` the status name it answered
    (for messages), `transient` whether retrying the same provider may succeed; `code` and
    `details` are the provider's error code and scalar details from its `google.rpc.ErrorInfo`
    (None and empty from a provider that sends none)."""

    def __init__(
        self,
        provider: str,
        kind: ErrorKind,
        message: str,
        *,
        status: str | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        received: int = 0,
        code: str | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status or kind.name
        super().__init__(f"{provider}: {self.status}: {message}")
        self.provider = provider
        self.kind = kind
        self.transient = transient
        self.message = message
        self.retry_after = retry_after
        self.received = received
        self.code = code
        self.details: dict[str, str] = dict(details or {})
        #: Set by the caller when the bars received before the failure were stored: the end of
        #: the range they complete.
        self.partial_end: datetime | None = None

    def describe(self) -> str:
        return f"{self.status}: {self.message}" if self.message else self.status


@dataclass
class FetchResult:
    """What one fetch brought besides bars: warnings from the provider's trailing metadata."""

    warnings: list[BarWarning] = field(default_factory=list)


class ProviderClient:
    """One provider at one address."""

    def __init__(self, slug: str, address: str) -> None:
        self.slug = slug
        self.address = address
        self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = pb_grpc.DataProviderStub(self.channel)
        #: None until known; False once the provider answered UNIMPLEMENTED to the columnar RPC.
        self.columnar: bool | None = None

    async def close(self) -> None:
        await self.channel.close(grace=None)

    async def capabilities(self, rpc_timeout: float = 5.0) -> pb.ProviderCapabilities:
        try:
            reply: pb.ProviderCapabilities = await self.stub.GetCapabilities(
                empty_pb2.Empty(), timeout=rpc_timeout
            )
        except grpc.aio.AioRpcError as err:
            raise self._error(err, 0) from None
        return reply

    async def symbols(self, rpc_timeout: float = 30.0) -> list[pb.SymbolInfo] | None:
        """The provider's catalogue (GetSymbols); None when it has none (UNIMPLEMENTED)."""
        try:
            reply: pb.SymbolList = await self.stub.GetSymbols(
                empty_pb2.Empty(), timeout=rpc_timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise self._error(err, 0) from None
        return list(reply.symbols)

    def _request(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> pb.HistoricalDataRequest:
        request = pb.HistoricalDataRequest(
            symbol=symbol,
            interval=interval,
            start_time=to_timestamp_pb(start),
            end_time=to_timestamp_pb(end),
        )
        if limit is not None:
            request.limit = limit
        return request

    def _error(self, err: grpc.aio.AioRpcError, received: int) -> ProviderCallError:
        code = err.code()
        kind = kind_of_status(code)
        retry_after = None
        if kind is ErrorKind.RATE_LIMITED:
            retry_after = retry_after_from_metadata(err.trailing_metadata())
        info = error_info_from_metadata(err.trailing_metadata())
        return ProviderCallError(
            self.slug,
            kind,
            err.details() or "",
            status=code.name,
            transient=is_transient_status(code),
            retry_after=retry_after,
            received=received,
            code=info.reason if info is not None else None,
            details=info.metadata if info is not None else None,
        )

    async def fetch(
        self,
        symbol: str,
        interval: str,
        start: datetime,
        end: datetime,
        *,
        limit: int | None = None,
        rpc_timeout: float | None = None,
        result: FetchResult | None = None,
    ) -> AsyncIterator[pa.Table]:
        """Bars of [start, end) as tables, ascending; raises ProviderCallError on failure
        (after yielding whatever arrived before it)."""
        request = self._request(symbol, interval, start, end, limit)
        if self.columnar is not False:
            received = 0
            call = self.stub.GetHistoricalBars(request, timeout=rpc_timeout)
            try:
                async for chunk in call:
                    self.columnar = True
                    table = chunk_to_table(chunk, symbol, interval, self.slug)
                    received += table.num_rows
                    yield table
                await self._collect_warnings(call, result)
                self.columnar = True
                return
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.UNIMPLEMENTED or received:
                    raise self._error(err, received) from None
                _log.info(
                    "provider %s has no GetHistoricalBars; using GetHistoricalData", self.slug
                )
                self.columnar = False
            finally:
                call.cancel()
        async for table in self._fetch_per_bar(request, symbol, interval, rpc_timeout, result):
            yield table

    async def _fetch_per_bar(
        self,
        request: pb.HistoricalDataRequest,
        symbol: str,
        interval: str,
        rpc_timeout: float | None,
        result: FetchResult | None,
    ) -> AsyncIterator[pa.Table]:
        received = 0
        pending: list[pb.TimeSeriesData] = []
        call = self.stub.GetHistoricalData(request, timeout=rpc_timeout)
        try:
            async for message in call:
                pending.append(message)
                if len(pending) >= _MESSAGES_PER_TABLE:
                    table = messages_to_table(pending, symbol, interval, self.slug)
                    pending = []
                    received += table.num_rows
                    yield table
            if pending:
                yield messages_to_table(pending, symbol, interval, self.slug)
            await self._collect_warnings(call, result)
        except grpc.aio.AioRpcError as err:
            if pending:
                table = messages_to_table(pending, symbol, interval, self.slug)
                received += table.num_rows
                yield table
            raise self._error(err, received) from None
        finally:
            call.cancel()

    async def _collect_warnings(self, call: Any, result: FetchResult | None) -> None:
        if result is None:
            return
        try:
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError:  # pragma: no cover - the call already finished
            return
        for key, value in trailing or ():
            if key != WARNINGS_METADATA_KEY:
                continue
            try:
                result.warnings.extend(decode_warnings(value))
            except (ValueError, KeyError, TypeError):
                _log.warning("provider %s sent malformed warnings: %r", self.slug, value)
            except json.JSONDecodeError:  # pragma: no cover - a ValueError already
                pass


class ProviderClients:
    """One `ProviderClient` per provider, replaced when its address changes (restart)."""

    def __init__(self) -> None:
        self._clients: dict[str, ProviderClient] = {}

    async def get(self, slug: str, address: str) -> ProviderClient:
        client = self._clients.get(slug)
        if client is not None and client.address == address:
            return client
        if client is not None:
            await client.close()
        client = ProviderClient(slug, address)
        self._clients[slug] = client
        return client

    def peek(self, slug: str) -> ProviderClient | None:
        return self._clients.get(slug)

    async def drop(self, slug: str) -> None:
        """Close and forget the client of `slug` (a provider removed at run time)."""
        client = self._clients.pop(slug, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
