"""Conversions between the provider contract's messages and plain Python values.

Used by the server (columns → messages, request → checked parameters) and by clients and the
contract kit (messages → rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from timebase.provider import provider_pb2 as pb
from timebase.sdk.errors import InvalidArgument
from timebase.sdk.intervals import INTERVALS
from timebase.sdk.manifest import Manifest
from timebase.sdk.validation import Columns, from_micros, metadata_map

#: Bars per BarChunk at most, and the budget of one chunk's encoded size (gRPC's default
#: receive limit is 4 MiB).
CHUNK_MAX_ROWS = 16_384
CHUNK_MAX_BYTES = 3 * 1024 * 1024
_ROW_BYTES = 56  # 5 packed doubles + a packed varint timestamp, rounded up

# google.protobuf.Timestamp's valid range: 0001-01-01 .. 9999-12-31.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799


@dataclass(frozen=True)
class HistoricalQuery:
    """A checked historical request."""

    symbol: str
    interval: str
    start: datetime
    end: datetime
    limit: int | None


@dataclass(frozen=True)
class Row:
    """One bar as a plain value, for comparisons (contract kit, tests)."""

    ts_us: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def timestamp(self) -> datetime:
        return from_micros(self.ts_us)


def _timestamp(request: pb.HistoricalDataRequest, name: str) -> datetime:
    if not request.HasField(name):
        raise InvalidArgument(f"{name}: required")
    ts: timestamp_pb2.Timestamp = getattr(request, name)
    if not (_MIN_SECONDS <= ts.seconds <= _MAX_SECONDS) or not (0 <= ts.nanos < 1_000_000_000):
        raise InvalidArgument(f"{name}: not a valid timestamp")
    return from_micros(ts.seconds * 1_000_000 + ts.nanos // 1000)


def check_symbol(symbol: str, manifest: Manifest, field: str = "symbol") -> str:
    """The symbol normalised (stripped, upper-case), or InvalidArgument naming `field`."""
    normalised = symbol.strip().upper()
    if not normalised:
        raise InvalidArgument(f"{field}: must not be empty")
    if not manifest.serves_symbol(normalised):
        patterns = ", ".join(p.pattern for p in manifest.symbols)
        raise InvalidArgument(
            f"{field}: {normalised!r} is not served by provider {manifest.slug!r} "
            f"(symbols must match: {patterns})",
            symbol=normalised,
        )
    return normalised


def check_interval(interval: str, manifest: Manifest, field: str = "interval") -> str:
    if not interval:
        raise InvalidArgument(
            f"{field}: must not be empty; valid intervals: {', '.join(INTERVALS)}"
        )
    if interval not in INTERVALS:
        raise InvalidArgument(
            f"{field}: unknown interval {interval!r}; valid intervals: {', '.join(INTERVALS)}",
            interval=interval,
        )
    if interval not in manifest.intervals:
        raise InvalidArgument(
            f"{field}: interval {interval!r} is not supported by provider {manifest.slug!r} "
            f"(supported: {', '.join(manifest.intervals)})",
            interval=interval,
        )
    return interval


def parse_historical_request(
    request: pb.HistoricalDataRequest, manifest: Manifest
) -> HistoricalQuery:
    """Check a request against the contract and the manifest; InvalidArgument names the field."""
    if request.provider and request.provider != manifest.slug:
        raise InvalidArgument(
            f"provider: request is for provider {request.provider!r}, this is {manifest.slug!r}"
        )
    symbol = check_symbol(request.symbol, manifest)
    interval = check_interval(request.interval, manifest)
    start = _timestamp(request, "start_time")
    end = _timestamp(request, "end_time")
    if start >= end:
        raise InvalidArgument(
            f"start_time: must be before end_time (got start_time={start.isoformat()}, "
            f"end_time={end.isoformat()})"
        )
    limit: int | None = None
    if request.HasField("limit"):
        if request.limit <= 0:
            raise InvalidArgument(f"limit: must be a positive integer, got {request.limit}")
        limit = request.limit
    days = manifest.days_per_request(interval)
    span_days = (end - start).total_seconds() / 86400
    if days is not None and span_days > days:
        raise InvalidArgument(
            f"end_time: range of {span_days:g} days exceeds max_days_per_request {days:g} of "
            f"provider {manifest.slug!r} for {interval}"
        )
    return HistoricalQuery(symbol, interval, start, end, limit)


def timestamp_pb(us: int) -> timestamp_pb2.Timestamp:
    seconds, micros = divmod(us, 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=micros * 1000)


def to_timestamp_pb(ts: datetime) -> timestamp_pb2.Timestamp:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(ts)
    return out


def columns_to_messages(
    cols: Columns, symbol: str, interval: str, provider: str
) -> Iterator[pb.TimeSeriesData]:
    """One TimeSeriesData per row."""
    message = pb.TimeSeriesData
    for ts, o, h, lo, c, v, meta in zip(
        cols.ts, cols.open, cols.high, cols.low, cols.close, cols.volume, cols.metadata, strict=True
    ):
        msg = message(
            symbol=symbol,
            timestamp=timestamp_pb(ts),
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=v,
            interval=interval,
            provider=provider,
        )
        if meta:
            msg.metadata.update(metadata_map(meta))
        yield msg


def chunk_spans(
    n: int,
    metadata_sizes: Sequence[int] | None,
    *,
    max_rows: int = CHUNK_MAX_ROWS,
    max_bytes: int = CHUNK_MAX_BYTES,
) -> Iterator[tuple[int, int]]:
    """[start, stop) row spans of `n` rows so that each chunk holds at most `max_rows` rows and
    about `max_bytes` encoded bytes (`metadata_sizes`: each row's metadata bytes, if any)."""
    i = 0
    while i < n:
        stop = min(n, i + max_rows, i + max(1, max_bytes // _ROW_BYTES))
        if metadata_sizes is not None:
            budget = max_bytes
            j = i
            while j < stop:
                budget -= _ROW_BYTES + metadata_sizes[j] + 4
                if budget < 0 and j > i:
                    break
                j += 1
            stop = j
        yield i, stop
        i = stop


def columns_to_chunks(
    cols: Columns,
    symbol: str,
    interval: str,
    provider: str,
    *,
    max_rows: int = CHUNK_MAX_ROWS,
    max_bytes: int = CHUNK_MAX_BYTES,
) -> Iterator[pb.BarChunk]:
    """BarChunks of at most `max_rows` rows and about `max_bytes` encoded bytes each."""
    has_meta = any(cols.metadata)
    sizes = [len(m.encode()) for m in cols.metadata] if has_meta else None
    for i, stop in chunk_spans(len(cols), sizes, max_rows=max_rows, max_bytes=max_bytes):
        chunk = pb.BarChunk(
            symbol=symbol,
            interval=interval,
            provider=provider,
            timestamps_us=cols.ts[i:stop],
            open=cols.open[i:stop],
            high=cols.high[i:stop],
            low=cols.low[i:stop],
            close=cols.close[i:stop],
            volume=cols.volume[i:stop],
        )
        if has_meta:
            chunk.metadata.extend(cols.metadata[i:stop])
        yield chunk


def message_row(msg: pb.TimeSeriesData) -> Row:
    ts = msg.timestamp.seconds * 1_000_000 + msg.timestamp.nanos // 1000
    return Row(
        ts,
        msg.open,
        msg.high,
        msg.low,
        msg.close,
        msg.volume,
        tuple(sorted(msg.metadata.items())),
    )


def chunk_rows(chunk: pb.BarChunk) -> Iterator[Row]:
    metas: Iterable[str] = (
        chunk.metadata if len(chunk.metadata) else [""] * len(chunk.timestamps_us)
    )
    for ts, o, h, lo, c, v, meta in zip(
        chunk.timestamps_us,
        chunk.open,
        chunk.high,
        chunk.low,
        chunk.close,
        chunk.volume,
        metas,
        strict=True,
    ):
        items = tuple(sorted(json.loads(meta).items())) if meta else ()
        yield Row(ts, o, h, lo, c, v, tuple((k, str(val)) for k, val in items))
