"""adjust=all on Yahoo's recorded payloads (the yahoo-finance provider replaying recorded chart
responses through yfinance): the adjusted closes equal Yahoo's own `adjclose` up to one
constant factor, and Yahoo's split-adjusted prices are never split-adjusted again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.providers.yahoo_finance.conftest import PROVIDER_DIR, RECORDINGS, load_module
from tests.rest.conftest import Rest, running_rest
from timebase.sdk import load_manifest

NEW_YORK = ZoneInfo("America/New_York")
# Read at import (not on the event loop).
_RECORDED = {p.name: json.loads(p.read_text()) for p in RECORDINGS.glob("*_1d.json")}


def recorded(name: str) -> tuple[list[str], list[float], list[float]]:
    """The recording's trading dates, closes and Yahoo's adjclose."""
    result: dict[str, Any] = _RECORDED[name]["chart"]["result"][0]
    days = [
        datetime.fromtimestamp(t, NEW_YORK).date().isoformat() + "T00:00:00Z"
        for t in result["timestamp"]
    ]
    closes = result["indicators"]["quote"][0]["close"]
    return days, closes, result["indicators"]["adjclose"][0]["adjclose"]


@pytest.fixture
def yahoo(tmp_path: Path) -> Any:
    """The yahoo-finance provider replaying the recordings (built off the event loop)."""
    manifest = load_manifest(PROVIDER_DIR / "config.yaml")
    options = manifest.validate_options(
        {"recordings_dir": str(RECORDINGS), "cache_dir": str(tmp_path / "yfinance")}
    )
    return load_module().YahooFinanceProvider(manifest, options)


@pytest.fixture
async def rest(database_url: str, yahoo: Any) -> AsyncIterator[Rest]:
    async with running_rest(database_url, yahoo) as running:
        yield running


async def bars(rest: Rest, symbol: str, start: str, end: str, adjust: str) -> list[dict[str, Any]]:
    status, body, _ = await rest.get(
        f"/api/providers/yahoo-finance/data/{symbol}?interval=1d&start={start}&end={end}"
        f"&adjust={adjust}"
    )
    assert status == 200, body
    rows: list[dict[str, Any]] = body["data"]["data"]
    return rows


async def test_adjust_all_closes_are_yahoo_adjclose_times_one_constant(rest: Rest) -> None:
    days, closes, adjclose = recorded("AAPL_1d.json")
    got = await bars(rest, "AAPL", "2024-01-29", "2024-02-16", "all")
    assert [b["timestamp"] for b in got] == days
    raw = await bars(rest, "AAPL", "2024-01-29", "2024-02-16", "none")
    assert [b["close"] for b in raw] == closes  # stored exactly as Yahoo gave them
    ratios = [b["close"] / a for b, a in zip(got, adjclose, strict=True)]
    assert max(ratios) / min(ratios) - 1 < 1e-6, ratios
    # The dividend (0.24 on Feb 9) is inside the range: the raw closes do not match adjclose.
    raw_ratios = [c / a for c, a in zip(closes, adjclose, strict=True)]
    assert max(raw_ratios) / min(raw_ratios) - 1 > 1e-3
    # Yahoo's prices include splits: adjust=splits is the stored bars.
    assert await bars(rest, "AAPL", "2024-01-29", "2024-02-16", "splits") == raw

    status, body, _ = await rest.get("/api/data/AAPL/events?start=2024-01-29&end=2024-02-16")
    assert status == 200, body
    assert body["data"]["events"] == [
        {"timestamp": "2024-02-09T00:00:00Z", "provider": "yahoo-finance", "kind": "dividend",
         "value": 0.24},
    ]  # fmt: skip


async def test_a_split_yahoo_already_applied_is_not_applied_twice(rest: Rest) -> None:
    days, closes, adjclose = recorded("NVDA_1d.json")
    for adjust in ("none", "splits", "all"):
        got = await bars(rest, "NVDA", "2024-06-05", "2024-06-12", adjust)
        assert [b["timestamp"] for b in got] == days
        assert [b["close"] for b in got] == closes == adjclose, adjust
    status, body, _ = await rest.get("/api/data/NVDA/events?start=2024-06-05&end=2024-06-12")
    assert status == 200, body
    assert body["data"]["events"] == [
        {"timestamp": "2024-06-10T00:00:00Z", "provider": "yahoo-finance", "kind": "split",
         "value": 10.0},
    ]  # fmt: skip
