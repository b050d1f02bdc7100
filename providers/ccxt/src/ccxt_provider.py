"""The ccxt provider: spot OHLCV candles of crypto exchanges through ccxt, off the event loop.

Symbols are ``EXCHANGE:BASE-QUOTE`` (`ccxt_symbols`). Each exchange of the `exchanges` option gets
one synchronous ccxt client with ccxt's own rate limiting (``enableRateLimit``: its throttle
sleeps between requests, in the worker thread); every ccxt call runs in a worker thread. History
is paginated: `fetch_ohlcv` from the start in pages of the exchange's maximum candle count, each
page starting after the previous one's last candle, until the end. Real time polls the latest
candles every `poll_seconds`. ccxt's exceptions become TimeBase errors in `ccxt_errors`.

The catalogue (`symbols`, the `GetSymbols` RPC) lists every active spot market of the configured
exchanges, read from ccxt's `load_markets` (one markets request per exchange, bounded by the
`timeout` option). An exchange that cannot be reached (a timeout, an error answer) is left out and
logged; when none can, the call fails with that exchange's error (UNAVAILABLE for timeouts), and
the gateway asks again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ccxt
from ccxt_errors import map_error
from ccxt_symbols import (
    MarketName,
    intervals_of,
    parse_exchanges,
    parse_symbol,
    timeframe_of,
    to_symbol,
    valid_symbol,
)

from timebase.sdk import (
    Bar,
    HealthReport,
    Manifest,
    NotSupported,
    Options,
    Provider,
    RealTimeBar,
    Subscriptions,
    SymbolInfo,
    SymbolNotFound,
    TimeBaseError,
)
from timebase.sdk.errors import ConfigError

log = logging.getLogger("timebase.provider.ccxt")

#: Candles per request when the exchange's ccxt `features` do not say.
DEFAULT_PAGE = 500
#: Per-exchange ccxt options: spot markets only (Binance would also load its futures markets,
#: and its currencies need an API key).
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Candle = Sequence[Any]  # [timestamp ms, open, high, low, close, volume]


def _ms(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def step_ms(interval: str) -> int:
    """The length of one candle in milliseconds (ccxt's; a month counts 30 days)."""
    return int(ccxt.Exchange.parse_timeframe(timeframe_of(interval))) * 1000


def to_bar(row: Candle, final: bool | None = None) -> Bar | None:
    """A ccxt candle as a Bar (None when a price is missing; a missing volume is 0)."""
    if len(row) < 5 or any(v is None for v in row[:5]):
        return None
    volume = row[5] if len(row) > 5 and row[5] is not None else 0.0
    metadata = {} if final is None else {"final": "true" if final else "false"}
    return Bar(
        _EPOCH + timedelta(milliseconds=int(row[0])),
        float(row[1]),
        float(row[2]),
        float(row[3]),
        float(row[4]),
        float(volume),
        metadata,
    )


class CcxtProvider(Provider):
    """Crypto exchanges through ccxt; see the module docstring and README.md."""

    def __init__(
        self,
        manifest: Manifest,
        options: Options | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(manifest, options)
        self.exchanges = parse_exchanges(str(self.options.get("exchanges") or ""))
        self.timeout = float(self.options.get("timeout") or 15.0)
        self.poll_seconds = float(self.options.get("poll_seconds") or 5.0)
        recordings = self.options.get("recordings_dir")
        self._recordings = Path(recordings) if recordings else None
        self._clock = clock or time.time
        self.clients: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def _build_clients(self) -> dict[str, Any]:
        unknown = [e for e in self.exchanges if e not in ccxt.exchanges]
        if unknown or not self.exchanges:
            raise ConfigError(
                f"options.exchanges: unknown ccxt exchange(s) {', '.join(unknown) or '(none)'}"
                " (ccxt ids such as binance, kraken, coinbase, bitstamp)"
            )
        clients: dict[str, Any] = {}
        for exchange_id in self.exchanges:
            config: dict[str, Any] = {
                "enableRateLimit": True,
                "timeout": int(self.timeout * 1000),
                "options": {"defaultType": "spot", **EXCHANGE_OPTIONS.get(exchange_id, {})},
            }
            if self._recordings is not None:
                from ccxt_recordings import RecordedSession

                config["session"] = RecordedSession(self._recordings / exchange_id)
            clients[exchange_id] = getattr(ccxt, exchange_id)(config)
        return clients

    async def start(self) -> None:
        self.clients = await asyncio.to_thread(self._build_clients)
        self._locks = {e: threading.Lock() for e in self.clients}

    async def close(self) -> None:
        def close_all() -> None:
            for client in self.clients.values():
                with contextlib.suppress(Exception):
                    client.session.close()

        await asyncio.to_thread(close_all)

    async def health(self) -> HealthReport:
        metrics = {f"intervals.{e}": ",".join(self.intervals(e)) for e in self.clients}
        return HealthReport(message=f"exchanges: {', '.join(self.exchanges)}", metrics=metrics)

    def intervals(self, exchange_id: str) -> list[str]:
        """The TimeBase intervals `exchange_id` offers (from ccxt's `timeframes`)."""
        return intervals_of(getattr(self.clients[exchange_id], "timeframes", None))

    # -- the catalogue ---------------------------------------------------------------------

    def _listed(self, exchange_id: str) -> list[SymbolInfo]:
        """The active spot markets of one exchange (a worker thread; ccxt loads them once)."""
        client = self.clients[exchange_id]
        with self._locks[exchange_id]:
            try:
                markets = client.load_markets()
            except Exception as exc:
                headers = getattr(client, "last_response_headers", None)
                raise map_error(exc, exchange_id, "its markets", headers) from exc
        title = str(getattr(client, "name", "") or exchange_id)
        intervals = self.intervals(exchange_id)
        found: list[SymbolInfo] = []
        for market in markets.values():
            if not market.get("spot", False) or market.get("active") is False:
                continue
            base, quote = str(market.get("base") or ""), str(market.get("quote") or "")
            symbol = to_symbol(exchange_id, f"{base}/{quote}")
            if not valid_symbol(symbol):
                continue  # names the scheme cannot carry (e.g. 1000SATS/USDT:USDT)
            found.append(
                SymbolInfo(
                    symbol=symbol,
                    name=f"{base}/{quote} on {title}",
                    type="crypto",
                    intervals=intervals,
                    metadata={
                        "exchange": exchange_id,
                        "market": str(market.get("symbol") or f"{base}/{quote}"),
                        "base": base,
                        "quote": quote,
                    },
                )
            )
        return sorted(found, key=lambda s: s.symbol)

    async def symbols(self) -> Sequence[SymbolInfo]:
        listed: list[SymbolInfo] = []
        failures: list[TimeBaseError] = []
        for exchange_id in self.clients:
            try:
                listed += await asyncio.to_thread(self._listed, exchange_id)
            except TimeBaseError as exc:
                log.warning("listing the markets of %s failed: %s", exchange_id, exc.message)
                failures.append(exc)
        if failures and len(failures) == len(self.clients):
            raise failures[0]
        return listed

    # -- blocking helpers (worker threads) -------------------------------------------------

    def _client(self, name: MarketName, interval: str) -> Any:
        client = self.clients.get(name.exchange)
        if client is None:
            raise SymbolNotFound(
                f"exchange {name.exchange!r} is not served (option exchanges: "
                f"{', '.join(self.exchanges)})"
            )
        if timeframe_of(interval) not in (client.timeframes or {}):
            raise NotSupported(
                f"{name.exchange} has no {interval} candles "
                f"(its intervals: {', '.join(self.intervals(name.exchange))})"
            )
        return client

    @staticmethod
    def _market(client: Any, name: MarketName) -> str:
        """The exchange's unified spot symbol for `name` (ccxt loads the markets once)."""
        markets = client.load_markets()
        market = markets.get(name.market)
        if market is None:
            wanted = name.market.upper()
            market = next((m for s, m in markets.items() if s.upper() == wanted), None)
        if market is None or not market.get("spot", True):
            raise SymbolNotFound(f"{name.exchange} has no spot market {name.market}")
        return str(market["symbol"])

    def _fetch(
        self, symbol: str, interval: str, since: int | None, limit: int | None
    ) -> tuple[list[Candle], int]:
        """One fetch_ohlcv call: (candles sorted by time, page size)."""
        name = parse_symbol(symbol)
        client = self._client(name, interval)
        page = self.page_size(client)
        # One request at a time per exchange (ccxt's throttle is serial); the failed response's
        # headers (Retry-After) are read before another request replaces them.
        with self._locks[name.exchange]:
            try:
                market = self._market(client, name)
                rows = client.fetch_ohlcv(
                    market, timeframe_of(interval), since=since, limit=limit or page
                )
            except Exception as exc:
                headers = getattr(client, "last_response_headers", None)
                raise map_error(exc, name.exchange, name.market, headers) from exc
        return sorted(rows or [], key=lambda r: int(r[0])), page

    @staticmethod
    def page_size(client: Any) -> int:
        features = getattr(client, "features", None) or {}
        limit = ((features.get("spot") or {}).get("fetchOHLCV") or {}).get("limit")
        return int(limit) if isinstance(limit, int) and limit > 0 else DEFAULT_PAGE

    # -- historical ------------------------------------------------------------------------

    async def _pages(
        self, symbol: str, interval: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[list[Candle]]:
        """The candles in [start, end), page by page (since/limit pagination)."""
        step = step_ms(interval) if interval != "1mo" else 1  # months differ in length
        since = start_ms
        while since < end_ms:
            rows, _page = await asyncio.to_thread(self._fetch, symbol, interval, since, None)
            kept = [r for r in rows if since <= int(r[0]) < end_ms]
            if kept:
                yield kept
            newest = int(rows[-1][0]) if rows else None
            if newest is None or newest < since or newest + step >= end_ms:
                return  # nothing more (or an exchange that ignores `since`), or the end reached
            since = newest + 1

    async def _bars(
        self, symbol: str, interval: str, start_ms: int, end_ms: int
    ) -> AsyncIterator[Bar]:
        async for rows in self._pages(symbol, interval, start_ms, end_ms):
            for row in rows:
                bar = to_bar(row)
                if bar is not None:
                    yield bar

    async def _newest(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
    ) -> list[Bar]:
        """The newest `limit` bars: `limit` candle periods before the end first, then a window
        twice as long before that, … until there are enough (gaps) or the start is reached."""
        window = limit * step_ms(interval)
        newest: list[Bar] = []
        high = end_ms
        while True:
            low = max(start_ms, high - window)
            newest = [b async for b in self._bars(symbol, interval, low, high)] + newest
            if len(newest) >= limit or low <= start_ms:
                return newest[-limit:]
            high, window = low, window * 2

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[Bar]:
        start_ms, end_ms = _ms(start), _ms(end)
        if limit is None or interval == "1mo":  # months differ in length: the whole range
            async for bar in self._bars(symbol, interval, start_ms, end_ms):
                yield bar
            return
        for bar in await self._newest(symbol, interval, start_ms, end_ms, limit):
            yield bar

    # -- real time -------------------------------------------------------------------------

    def _latest(self, symbol: str, interval: str) -> list[Candle]:
        return self._fetch(symbol, interval, None, 2)[0]

    async def stream_real_time(self, subscriptions: Subscriptions) -> AsyncIterator[RealTimeBar]:
        """Poll each subscription's newest candles; yield a candle when it is new or changed.

        A candle whose period has ended is sent with ``final: true``; the forming one with
        ``final: false`` (again whenever it changes). Transient exchange errors are logged and
        polled again; others (unknown market, interval) end the stream with their error.
        """
        sent: dict[tuple[str, str], list[Any]] = {}
        while True:
            for sub in subscriptions.active:
                key = (sub.symbol, sub.interval)
                try:
                    rows = await asyncio.to_thread(self._latest, *key)
                except TimeBaseError as exc:
                    if not exc.transient:
                        raise
                    log.warning("polling %s %s: %s", sub.symbol, sub.interval, exc.message)
                    continue
                now_ms, step = int(self._clock() * 1000), step_ms(sub.interval)
                for row in rows:
                    previous = sent.get(key)
                    if previous is not None and (
                        int(row[0]) < int(previous[0]) or list(row) == previous
                    ):
                        continue
                    bar = to_bar(row, final=int(row[0]) + step <= now_ms)
                    if bar is not None:
                        sent[key] = list(row)
                        yield RealTimeBar(sub.symbol, sub.interval, bar)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriptions.changed(), self.poll_seconds)
