"""gRPC requests (HistoricalDataRequest, GetBarsRequest) → checked `BarRequest`s.

Clients built from the original provider proto cannot set the newer fields, so two gRPC
metadata keys stand in for them: `x-timebase-provider` (provider-aware query),
`x-timebase-refresh` (`1`/`true`: fetch again even if stored) and `x-timebase-adjust`
(`none`, `splits` or `all`: `GetBarsRequest.adjust`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from google.protobuf import timestamp_pb2

from timebase.gateway.bar_limits import BarLimit
from timebase.gateway.bar_request import BarRequest, build_request
from timebase.sdk.conventions import parse_bool
from timebase.sdk.errors import InvalidTimeRangeError
from timebase.sdk.validation import from_micros

PROVIDER_METADATA_KEY = "x-timebase-provider"
REFRESH_METADATA_KEY = "x-timebase-refresh"
ADJUST_METADATA_KEY = "x-timebase-adjust"
CORRELATION_METADATA_KEY = "x-correlation-id"

# google.protobuf.Timestamp's valid range: 0001-01-01 .. 9999-12-31.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


class HistoricalRequestLike(Protocol):
    symbol: str
    interval: str
    provider: str
    refresh: bool
    limit: int

    def HasField(self, field_name: Any) -> bool: ...

    @property
    def start_time(self) -> timestamp_pb2.Timestamp: ...
    @property
    def end_time(self) -> timestamp_pb2.Timestamp: ...


def metadata_value(metadata: Iterable[tuple[str, str | bytes]] | None, key: str) -> str | None:
    for k, v in metadata or ():
        if k.lower() == key:
            return v.decode() if isinstance(v, bytes) else v
    return None


def request_timestamp(request: Any, name: str) -> datetime | None:
    if not request.HasField(name):
        return None
    ts: timestamp_pb2.Timestamp = getattr(request, name)
    if not (_MIN_SECONDS <= ts.seconds <= _MAX_SECONDS) or not (0 <= ts.nanos < 1_000_000_000):
        raise InvalidTimeRangeError(f"{name}: not a valid timestamp", field=name)
    return from_micros(ts.seconds * 1_000_000 + ts.nanos // 1000)


def parse_bar_request(
    request: HistoricalRequestLike,
    metadata: Iterable[tuple[str, str | bytes]] | None,
    bar_limit: BarLimit | None = None,
) -> BarRequest:
    """A checked `BarRequest`, its size estimated against `bar_limit` (`grpc.max_bars`)."""
    provider = request.provider or metadata_value(metadata, PROVIDER_METADATA_KEY) or ""
    refresh_flag = metadata_value(metadata, REFRESH_METADATA_KEY) or ""
    refresh = request.refresh or parse_bool(refresh_flag) is True
    adjust = getattr(request, "adjust", "") or metadata_value(metadata, ADJUST_METADATA_KEY) or ""
    return build_request(
        symbol=request.symbol,
        interval=request.interval,
        start=request_timestamp(request, "start_time"),
        end=request_timestamp(request, "end_time"),
        limit=request.limit if request.HasField("limit") else None,
        provider=provider,
        refresh=refresh,
        bar_limit=bar_limit,
        adjust=adjust,
    )
