"""The Arrow shape of bars, and which table holds which interval."""

from __future__ import annotations

import pyarrow as pa

from timebase.sdk.intervals import Interval, IntervalClass

#: Bars as they go in (ingest, provider batches) and come out (range reads).
BAR_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("open", pa.float64()),
        pa.field("high", pa.float64()),
        pa.field("low", pa.float64()),
        pa.field("close", pa.float64()),
        pa.field("volume", pa.float64()),
        pa.field("interval", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("metadata", pa.string()),  # a JSON object, or null
    ]
)

PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = tuple(name for name in BAR_SCHEMA.names if name != "metadata")
KEY_COLUMNS = ("symbol", "interval", "provider", "timestamp")

#: One table per interval class (TimescaleDB retention drops whole chunks of one table).
BAR_TABLES: dict[IntervalClass, str] = {
    IntervalClass.INTRADAY: "bars_intraday",
    IntervalClass.DAILY: "bars_daily",
}


def bar_table(interval: Interval) -> str:
    """The table holding bars of `interval`."""
    return BAR_TABLES[interval.klass]


def intervals_of(klass: IntervalClass) -> tuple[str, ...]:
    return tuple(i.value for i in Interval if i.klass is klass)


def empty_bars() -> pa.Table:
    return BAR_SCHEMA.empty_table()
