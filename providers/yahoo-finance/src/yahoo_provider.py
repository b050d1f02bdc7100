"""The yahoo-finance provider: Yahoo Finance bars through yfinance, off the event loop.

Each request is cut to Yahoo's limits (lookback per interval, days per request), every yfinance
call runs in a worker thread after taking a token from the manifest's rate limiter, prices are
fetched unadjusted (`auto_adjust=False`, `actions=True`) and converted by `yahoo_frames`.
Errors are mapped by `map_error`: 429 / YFRateLimitError → RateLimited, unknown or delisted →
SymbolNotFound, network and Yahoo-side failures → UpstreamUnavailable.

yfinance (and pandas with it, about 50 MB) is imported on the first fetch, not at start: an idle
provider stays small (docs/benchmarks.md, memory).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pyarrow as pa
from curl_cffi.requests import Session
from curl_cffi.requests.exceptions import HTTPError, RequestException
from yahoo_frames import frame_to_batch

from timebase.sdk import (
    Bar,
    Manifest,
    Options,
    Provider,
    RateLimited,
    SymbolInfo,
    SymbolNotFound,
    TimeBaseError,
    UpstreamUnavailable,
)
from timebase.sdk.errors import ConfigError

#: TimeBase interval -> yfinance interval (30m is fetched as 15m and resampled by yfinance).
YF_INTERVALS = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1h", "1d": "1d",
                "1wk": "1wk", "1mo": "1mo"}  # fmt: skip
DAILY = frozenset({"1d", "1wk", "1mo"})
#: Seconds to wait after Yahoo's 429 (its limits are per minute).
RATE_LIMIT_RETRY_AFTER = 60.0
#: Start requests this far inside Yahoo's lookback limit (Yahoo rejects the whole request otherwise).
LOOKBACK_MARGIN = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_state: dict[str, str | None] = {"cache_dir": None}
_yfinance: list[ModuleType] = []
_yfinance_lock = threading.Lock()


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def quiet_yfinance() -> None:
    """yfinance 1.x calls pandas APIs that pandas 3 deprecates: not our users' concern.

    Idempotent (an identical filter replaces itself), so it is re-applied per request, after
    anything (pytest, for one) that reset the warning filters.
    """
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"yfinance(\.|$)")


def configure_yfinance(cache_dir: str | None) -> None:
    """Where yfinance caches (applied when it is first imported, by `yfinance_module`)."""
    _state["cache_dir"] = cache_dir


def yfinance_module() -> ModuleType:
    """yfinance, imported and configured on first use (blocking: call it in a worker thread).

    Process-wide settings: raise errors (to map them), no retries, cache in a writable place.
    """
    with _yfinance_lock:
        if not _yfinance:
            quiet_yfinance()
            import yfinance as yf

            yf.config.debug.hide_exceptions = False
            yf.config.network.retries = 0  # the gateway retries; Yahoo's 429s are not hammered
            cache_dir = _state["cache_dir"]
            yf.set_tz_cache_location(
                cache_dir or str(Path(tempfile.gettempdir()) / "timebase-yfinance")
            )
            _yfinance.append(yf)
        return _yfinance[0]


def map_error(exc: BaseException, symbol: str) -> TimeBaseError | None:
    """The TimeBase error for a yfinance failure; None means "no bars in this range"."""
    if isinstance(exc, TimeBaseError):
        return exc
    from yfinance.exceptions import (
        YFException,
        YFPricesMissingError,
        YFRateLimitError,
        YFTzMissingError,
    )

    if isinstance(exc, YFRateLimitError):
        return RateLimited("Yahoo Finance rate limit (HTTP 429)", RATE_LIMIT_RETRY_AFTER)
    if isinstance(exc, YFTzMissingError):
        return SymbolNotFound(f"Yahoo Finance does not know {symbol} (delisted or unknown)")
    if isinstance(exc, YFPricesMissingError):
        reason = (exc.yahoo_reason or "").lower()
        if "delisted" in reason or "not found" in reason:
            return SymbolNotFound(f"Yahoo Finance: {exc.yahoo_reason} ({symbol})")
        return None  # a known symbol without bars in the range
    if isinstance(exc, HTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            return SymbolNotFound(f"Yahoo Finance does not know {symbol} (HTTP 404)")
        if status == 429:
            return RateLimited("Yahoo Finance rate limit (HTTP 429)", RATE_LIMIT_RETRY_AFTER)
        return UpstreamUnavailable(f"Yahoo Finance answered HTTP {status}")
    if isinstance(exc, RequestException | OSError | TimeoutError):
        return UpstreamUnavailable(f"Yahoo Finance unreachable ({type(exc).__name__})")
    if isinstance(exc, YFException | ValueError | KeyError):
        return UpstreamUnavailable(f"Yahoo Finance answered unexpectedly ({type(exc).__name__})")
    return UpstreamUnavailable(f"yfinance failed ({type(exc).__name__})")


def windows(start: datetime, end: datetime, days: float | None) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of at most `days` days."""
    if not days:
        return [(start, end)]
    step = timedelta(days=days)
    out: list[tuple[datetime, datetime]] = []
    a = start
    while a < end:
        out.append((a, min(end, a + step)))
        a += step
    return out


def _day_after_or_on(ts: datetime) -> date:
    """The first date whose 00:00 UTC is >= ts."""
    d = ts.astimezone(UTC).date()
    return d if ts == datetime(d.year, d.month, d.day, tzinfo=UTC) else d + timedelta(days=1)


def parse_watch_list(manifest: Manifest, value: object) -> tuple[str, ...]:
    """The `watch_list` option's tickers, upper-cased and checked against the manifest."""
    symbols: list[str] = []
    for part in str(value or "").split(","):
        symbol = part.strip().upper()
        if not symbol:
            continue
        if not manifest.serves_symbol(symbol):
            raise ConfigError(f"options: watch_list: {part.strip()!r} is not a Yahoo ticker")
        if symbol not in symbols:
            symbols.append(symbol)
    return tuple(symbols)


def ticker_type(symbol: str) -> str:
    """The instrument type a Yahoo ticker's form tells: ^GSPC index, EURUSD=X fx, CL=F future."""
    if symbol.startswith("^"):
        return "index"
    if symbol.endswith("=X"):
        return "fx"
    if symbol.endswith("=F"):
        return "future"
    return ""


class YahooFinanceProvider(Provider):
    """Yahoo Finance through yfinance; see the module docstring and README.md."""

    def __init__(
        self,
        manifest: Manifest,
        options: Options | None = None,
        *,
        session: Session | None = None,  # type: ignore[type-arg]
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(manifest, options)
        self.timeout = float(self.options.get("timeout") or 15.0)
        recordings = self.options.get("recordings_dir")
        self._recordings = Path(recordings) if recordings else None
        self.session = session
        self._clock = clock
        self.watch_list = parse_watch_list(manifest, self.options.get("watch_list"))

    async def start(self) -> None:
        await asyncio.to_thread(configure_yfinance, self.options.get("cache_dir"))
        if self.session is None:
            if self._recordings is not None:
                from yahoo_recordings import RecordedSession

                recorded = RecordedSession(self._recordings)
                self.session = recorded
                if self._clock is None:
                    at = await asyncio.to_thread(recorded.recorded_at)
                    if at is not None:
                        self._clock = lambda: float(at)
            else:
                self.session = Session(impersonate="chrome")
        if self._clock is None:
            self._clock = time.time

    async def symbols(self) -> Sequence[SymbolInfo]:
        """The configured watch list (empty without one: Yahoo has no catalogue to list)."""
        return [SymbolInfo(symbol, type=ticker_type(symbol)) for symbol in self.watch_list]

    async def close(self) -> None:
        if self.session is not None:
            await asyncio.to_thread(self.session.close)

    def now(self) -> datetime:
        return datetime.fromtimestamp((self._clock or time.time)(), UTC)

    # -- historical ------------------------------------------------------------------------

    def _fetch(self, symbol: str, interval: str, start: datetime, end: datetime) -> pa.RecordBatch:
        """One yfinance request (blocking: runs in a worker thread)."""
        yf = yfinance_module()
        quiet_yfinance()
        daily = interval in DAILY
        ticker = yf.Ticker(symbol, session=self.session)
        first: date | datetime = _day_after_or_on(start) if daily else start
        last: date | datetime = _day_after_or_on(end) if daily else end
        if daily and first >= last:
            return frame_to_batch(None, daily=True, start_us=0, end_us=0)
        try:
            df = ticker.history(
                start=first,
                end=last,
                interval=YF_INTERVALS[interval],
                auto_adjust=False,
                actions=True,
                prepost=False,
                repair=False,
                timeout=self.timeout,
            )
        except Exception as exc:
            error = map_error(exc, symbol)
            if error is not None:
                raise error from exc
            df = None
        return frame_to_batch(df, daily=daily, start_us=_micros(start), end_us=_micros(end))

    def plan(
        self, interval: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The windows one request becomes: clipped to the lookback, cut to the request size."""
        lookback = self.manifest.lookback_days(interval)
        if lookback is not None:
            start = max(start, self.now() - timedelta(days=lookback) + LOOKBACK_MARGIN)
        if start >= end:
            return []
        return windows(start, end, self.manifest.days_per_request(interval))

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[Bar | pa.RecordBatch]:
        plan = self.plan(interval, start, end)
        if limit is None:
            for a, b in plan:
                await self.rate_limiter.acquire()
                batch = await asyncio.to_thread(self._fetch, symbol, interval, a, b)
                if batch.num_rows:
                    yield batch
            return
        # With a limit, fetch the newest windows first and stop once there are enough bars.
        newest_first: list[pa.RecordBatch] = []
        rows = 0
        for a, b in reversed(plan):
            await self.rate_limiter.acquire()
            batch = await asyncio.to_thread(self._fetch, symbol, interval, a, b)
            newest_first.append(batch)
            rows += batch.num_rows
            if rows >= limit:
                break
        for batch in reversed(newest_first):
            if batch.num_rows:
                yield batch
