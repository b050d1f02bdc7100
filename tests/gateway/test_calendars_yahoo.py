"""Session-aligned derived intervals on Yahoo's recorded payloads (the yahoo-finance provider
replaying recorded chart responses through yfinance, its manifest naming XNYS for AAPL): a daily
bar built from Yahoo's hourly bars equals Yahoo's own daily bar, and 4h bars start at the open."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.providers.yahoo_finance.conftest import PROVIDER_DIR, RECORDINGS, load_module
from tests.rest.conftest import Rest, running_rest
from tests.support.calendars import shared_calendars
from timebase.sdk import load_manifest

OHLCV = ("timestamp", "open", "high", "low", "close", "volume")


def _provider(tmp_path: Path, slug: str, intervals: tuple[str, ...] | None = None) -> Any:
    # The recordings are of 2024: the gateway's clock is today, past Yahoo's 730 days of 1h.
    manifest = dataclasses.replace(
        load_manifest(PROVIDER_DIR / "config.yaml"), max_lookback_days={"default": 36500}
    )
    if intervals is not None:  # the same Yahoo, without its native daily bars
        manifest = dataclasses.replace(manifest, slug=slug, intervals=intervals)
    options = manifest.validate_options(
        {"recordings_dir": str(RECORDINGS), "cache_dir": str(tmp_path / slug)}
    )
    return load_module().YahooFinanceProvider(manifest, options)


@pytest.fixture
async def rest(database_url: str, tmp_path: Path) -> AsyncIterator[Rest]:
    native = await _off_loop(_provider, tmp_path, "yahoo-finance")
    hourly = await _off_loop(_provider, tmp_path, "yahoo-hourly", ("1h",))
    async with running_rest(database_url, native, hourly, calendars=shared_calendars()) as r:
        yield r


async def _off_loop(fn: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args)


async def bars(rest: Rest, provider: str, interval: str) -> tuple[list[dict[str, Any]], Any]:
    status, body, _ = await rest.get(
        f"/api/providers/{provider}/data/AAPL?interval={interval}&start=2024-02-05&end=2024-02-09"
    )
    assert status == 200, body
    return body["data"]["data"], body["meta"].get("calendar")


async def test_a_daily_bar_derived_from_hourly_bars_equals_yahoos_daily_bar(rest: Rest) -> None:
    native, calendar = await bars(rest, "yahoo-finance", "1d")
    derived, derived_calendar = await bars(rest, "yahoo-hourly", "1d")
    assert calendar == derived_calendar == "XNYS"
    assert [b["timestamp"] for b in derived] == [f"2024-02-{d:02}T00:00:00Z" for d in range(5, 10)]
    assert [{k: b[k] for k in OHLCV} for b in derived] == [{k: b[k] for k in OHLCV} for b in native]
    assert {b["metadata"]["derived_from"] for b in derived} == {"1h"}


async def test_four_hour_bars_start_at_the_session_open(rest: Rest) -> None:
    hourly, _ = await bars(rest, "yahoo-finance", "1h")
    fours, calendar = await bars(rest, "yahoo-finance", "4h")
    assert calendar == "XNYS"
    # 09:30 and 13:30 New York (14:30, 18:30 UTC in February): two bars a session, not the
    # UTC grid's 12:00, 16:00 and 20:00.
    assert [b["timestamp"][8:16] for b in fours[:2]] == ["05T14:30", "05T18:30"]
    assert len(fours) == 10
    first = [b for b in hourly if "2024-02-05T14:30" <= b["timestamp"] < "2024-02-05T18:30"]
    assert len(first) == 4
    assert (fours[0]["open"], fours[0]["close"]) == (first[0]["open"], first[-1]["close"])
    assert fours[0]["high"] == max(b["high"] for b in first)
    assert fours[0]["volume"] == sum(b["volume"] for b in first)
