"""The daily bars that adjust answers of other intervals (`timebase.gateway.adjust_intervals`):
fetched like any request when missing, then read from the store."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pyarrow as pa

from timebase.auth import Caller
from timebase.gateway.adjust_intervals import daily_range, merge_daily
from timebase.gateway.adjustments import Adjust
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.fetch_limits import client_key, fetch_client
from timebase.gateway.history import HistoricalBars
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import Interval
from timebase.store import Store

_log = logging.getLogger(__name__)


async def store_daily(
    history: HistoricalBars, requests: Sequence[BarRequest], caller: Caller | None
) -> None:
    """Make sure the daily bars whose events adjust `requests` (adjusted, not daily ones) are
    stored: fetched like any request when missing (counted against `caller`). A failure leaves
    what is stored (the bars' own events then)."""
    with fetch_client(client_key(caller) if caller is not None else None):
        for request in requests:
            if request.adjust is Adjust.NONE or request.interval is Interval.D1:
                continue
            start, end = daily_range(request.start, request.end)
            daily = BarRequest(request.symbol, Interval.D1, start, end, provider=request.provider)
            try:
                await history.get(daily, read=False)
            except TimeBaseError as exc:
                _log.info("no daily bars of %s to adjust from: %s", request.symbol, exc.message)


async def daily_bars(store: Store, request: BarRequest, table: pa.Table) -> pa.Table:
    """The stored daily bars of `request`'s range as one series, the answer's providers first."""
    start, end = daily_range(request.start, request.end)
    stored = {key.provider for key in await store.latest([request.symbol], Interval.D1)}
    answered = table.column("provider").to_pylist() if table.num_rows else []
    providers = [p for p in dict.fromkeys([*answered, *sorted(stored)]) if p in stored]
    tables = [
        await store.read_table(request.symbol, Interval.D1, start, end, provider=slug)
        for slug in providers
    ]
    return merge_daily(tables)
