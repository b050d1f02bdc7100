"""flat-price: the example provider of docs/providers.md.

Serves constant bars for the symbols FLAT:<PRICE> (e.g. FLAT:100, FLAT:12.5): open, high, low
and close are PRICE and the volume is the `volume` option. Bars sit on the interval's UTC grid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from timebase.sdk import Bar, Provider, SymbolNotFound, serve

STEPS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FlatPriceProvider(Provider):
    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[Bar]:
        # The SDK has checked the request: the symbol matches the manifest's pattern, the interval
        # is one the manifest lists, start < end are UTC. What is left is the provider's own rules.
        price = float(symbol.removeprefix("FLAT:"))
        if price == 0:
            raise SymbolNotFound(f"{symbol}: there is no market at price 0")
        step = STEPS[interval]
        bar_start = EPOCH + -((EPOCH - start) // step) * step  # first grid instant >= start
        while bar_start < end:
            yield Bar(bar_start, price, price, price, price, volume=self.options["volume"])
            bar_start += step


if __name__ == "__main__":
    serve(FlatPriceProvider)
