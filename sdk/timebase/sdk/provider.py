"""What a provider author writes: a `Provider` subclass.

    class MyProvider(Provider):
        async def get_historical_data(self, symbol, interval, start, end, limit):
            for row in await fetch(symbol, interval, start, end):
                yield Bar(row.time, row.open, row.high, row.low, row.close, row.volume)

    if __name__ == "__main__":
        serve(MyProvider)

The SDK has already validated the request when `get_historical_data` runs: `symbol` is non-empty,
upper-case and matches the manifest's patterns, `interval` is one the manifest lists, and
`start < end` are timezone-aware UTC datetimes. Bars come out as `Bar` objects or, for bulk, as
`pyarrow.RecordBatch`es with the columns ``timestamp`` (timestamp, UTC or naive UTC, or int64
microseconds), ``open high low close volume`` (numbers) and optionally ``metadata`` (JSON object
strings or null). The SDK validates what comes out (invalid bars are skipped and reported), applies
`limit`, and sends it as per-bar messages or packed columnar chunks.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from timebase.sdk.errors import NotSupported
from timebase.sdk.manifest import Manifest
from timebase.sdk.options import Options
from timebase.sdk.ratelimit import RateLimiter

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(slots=True)
class Bar:
    """One OHLCV bar keyed by its start instant (UTC)."""

    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    #: Optional extensions ("adj_close", "dividend", "final", …); values are sent as strings.
    metadata: dict[str, Any] = field(default_factory=dict)


def batch_schema() -> pa.Schema:
    """The Arrow schema of the record batches a provider may yield (pyarrow imported on use):
    ``timestamp`` timestamp[us, UTC], ``open high low close volume`` float64, ``metadata``
    string (a JSON object, or null)."""
    import pyarrow as pa

    utc_us, f64 = pa.timestamp("us", tz="UTC"), pa.float64()
    return pa.schema(
        [
            ("timestamp", utc_us),
            *((name, f64) for name in ("open", "high", "low", "close", "volume")),
            ("metadata", pa.string()),
        ]
    )


@dataclass(frozen=True, slots=True)
class Subscription:
    symbol: str
    interval: str
    options: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(slots=True)
class RealTimeBar:
    """A real-time bar for one subscription."""

    symbol: str
    interval: str
    bar: Bar


class Subscriptions:
    """The live set of subscriptions of one real-time stream, updated as the client sends controls.

    A provider's `stream_real_time` reads `active` (and waits on `changed()`); the SDK forwards
    only bars whose (symbol, interval) is subscribed, and nothing while the stream is paused.
    """

    def __init__(self) -> None:
        self._active: dict[tuple[str, str], Subscription] = {}
        self._paused = False
        self._closed = False
        self._changed = asyncio.Event()

    @property
    def active(self) -> tuple[Subscription, ...]:
        return tuple(self._active.values())

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def closed(self) -> bool:
        """The client finished sending controls (the stream continues until it cancels)."""
        return self._closed

    def __contains__(self, key: object) -> bool:
        return key in self._active

    def wants(self, symbol: str, interval: str) -> bool:
        return not self._paused and (symbol, interval) in self._active

    async def changed(self) -> None:
        """Wait until the subscriptions change (subscribe, unsubscribe, pause, resume)."""
        await self._changed.wait()
        self._changed.clear()

    # -- driven by the SDK -----------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()

    def subscribe(self, sub: Subscription) -> None:
        self._active[(sub.symbol, sub.interval)] = sub
        self._notify()

    def unsubscribe(self, symbol: str, interval: str) -> None:
        if interval:
            self._active.pop((symbol, interval), None)
        else:
            for key in [k for k in self._active if k[0] == symbol]:
                del self._active[key]
        self._notify()

    def pause(self) -> None:
        self._paused = True
        self._notify()

    def resume(self) -> None:
        self._paused = False
        self._notify()

    def close(self) -> None:
        self._closed = True
        self._notify()


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One symbol of a provider's catalogue (`Provider.symbols`, the `GetSymbols` RPC)."""

    symbol: str
    #: Human-readable name ("Apple Inc."), or empty.
    name: str = ""
    #: Instrument type ("equity", "etf", "crypto", "fx", "index", ...), or empty.
    type: str = ""
    #: Intervals served for it; empty means every interval of the manifest.
    intervals: Sequence[str] = ()
    #: Free-form extensions (e.g. "exchange", "currency"); values are sent as strings.
    metadata: Mapping[str, str] = field(default_factory=dict)


class HealthState(enum.Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class HealthReport:
    state: HealthState = HealthState.HEALTHY
    message: str = "ok"
    metrics: Mapping[str, str] = field(default_factory=dict)


class Provider:
    """Base class of a provider. Subclass it; capabilities come from the manifest.

    Attributes available to the author: `manifest`, `options` (validated), `rate_limiter`
    (a token bucket built from the manifest's `rate_limits`).
    """

    #: Set by subclasses that implement `stream_real_time` (detected automatically otherwise).
    supports_real_time: ClassVar[bool | None] = None

    def __init__(self, manifest: Manifest, options: Options | None = None) -> None:
        self.manifest = manifest
        self.options = options if options is not None else manifest.validate_options({})
        self.rate_limiter = RateLimiter.from_manifest(manifest)

    @property
    def slug(self) -> str:
        return self.manifest.slug

    async def start(self) -> None:
        """Called once before the server accepts requests (open sessions, warm caches)."""

    async def close(self) -> None:
        """Called once at shutdown (bounded by the SDK); release what `start` opened."""

    def get_historical_data(
        self,
        symbol: str,
        interval: str,
        start: datetime,
        end: datetime,
        limit: int | None,
    ) -> AsyncIterator[Bar | pa.RecordBatch]:
        """Bars of `symbol` at `interval` in [start, end), ascending; at most the last `limit`.

        Write it as an async generator (``async def … yield``). Honouring `limit` is optional
        (the SDK keeps the most recent `limit` bars) but saves work.
        """
        raise NotSupported(f"provider {self.slug!r} does not serve historical data")

    def stream_real_time(self, subscriptions: Subscriptions) -> AsyncIterator[RealTimeBar]:
        """Real-time bars for the live `subscriptions`, until cancelled (optional)."""
        raise NotSupported(f"provider {self.slug!r} does not stream real-time data")

    async def symbols(self) -> Sequence[SymbolInfo]:
        """The symbols this provider can serve, its catalogue (optional: `GetSymbols`).

        Without it the provider answers UNIMPLEMENTED, which the gateway reads as "no catalogue"
        (it still serves any symbol the manifest's patterns accept)."""
        raise NotSupported(f"provider {self.slug!r} does not list its symbols")

    async def health(self) -> HealthReport:
        """The provider's health, e.g. whether its upstream answers (optional)."""
        return HealthReport()

    @classmethod
    def implements_real_time(cls) -> bool:
        if cls.supports_real_time is not None:
            return cls.supports_real_time
        return cls.stream_real_time is not Provider.stream_real_time
