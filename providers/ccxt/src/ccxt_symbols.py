"""The ccxt provider's names: TimeBase symbols and intervals <-> ccxt exchanges, markets, timeframes.

One scheme, ``EXCHANGE:BASE-QUOTE``: the ccxt exchange id (upper-case in TimeBase, lower-case for
ccxt), a colon, then the spot market's base and quote joined by a dash. It uses only characters
every door accepts in a symbol and in a URL path segment (letters, digits, ``:`` and ``-``; no
``/``): ``BINANCE:BTC-USDT`` is ccxt's ``binance`` market ``BTC/USDT``, ``KRAKEN:ETH-EUR`` is
``kraken`` ``ETH/EUR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from timebase.sdk import InvalidArgument

#: TimeBase interval -> ccxt timeframe (ccxt spells week and month 1w and 1M).
TIMEFRAMES = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1h", "4h": "4h",
              "1d": "1d", "1wk": "1w", "1mo": "1M"}  # fmt: skip
_SYMBOL_RE = re.compile(r"([A-Z][A-Z0-9]{1,23}):([A-Z0-9]{1,16})-([A-Z0-9]{1,16})")


@dataclass(frozen=True, slots=True)
class MarketName:
    """A TimeBase symbol taken apart: the ccxt exchange id and the unified market symbol."""

    exchange: str
    base: str
    quote: str

    @property
    def market(self) -> str:
        """ccxt's unified spot symbol, e.g. ``BTC/USDT``."""
        return f"{self.base}/{self.quote}"


def parse_symbol(symbol: str) -> MarketName:
    """`BINANCE:BTC-USDT` -> MarketName("binance", "BTC", "USDT"), else InvalidArgument."""
    m = _SYMBOL_RE.fullmatch(symbol.strip().upper())
    if m is None:
        raise InvalidArgument(
            f"symbol: {symbol!r} is not EXCHANGE:BASE-QUOTE (e.g. BINANCE:BTC-USDT)", symbol=symbol
        )
    return MarketName(m[1].lower(), m[2], m[3])


def to_symbol(exchange: str, market: str) -> str:
    """ccxt's (`binance`, `BTC/USDT`) -> `BINANCE:BTC-USDT`."""
    base, _, quote = market.partition("/")
    return f"{exchange.upper()}:{base.upper()}-{quote.upper()}"


def valid_symbol(symbol: str) -> bool:
    """Whether `symbol` follows the scheme (what `parse_symbol` accepts)."""
    return _SYMBOL_RE.fullmatch(symbol) is not None


def parse_exchanges(text: str) -> tuple[str, ...]:
    """The `exchanges` option (comma-separated ccxt ids) as a tuple, duplicates dropped."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        name = part.strip().lower()
        if name:
            seen[name] = None
    return tuple(seen)


def timeframe_of(interval: str) -> str:
    return TIMEFRAMES[interval]


def intervals_of(timeframes: dict[str, object] | None) -> list[str]:
    """The TimeBase intervals an exchange's `timeframes` table offers, in TimeBase's order."""
    offered = set(timeframes or {})
    return [interval for interval, tf in TIMEFRAMES.items() if tf in offered]
