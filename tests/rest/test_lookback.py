"""A provider left out of a range older than its lookback window is named, with the window."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.gateway.support import RecordingProvider

from .conftest import running_rest

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _yahoo_like() -> RecordingProvider:
    return RecordingProvider("yahoo-like", max_lookback_days={"default": 36500, "1h": 730})


async def test_a_range_before_the_window_names_the_provider_and_its_window(fresh_database_url):
    yahoo = _yahoo_like()
    async with running_rest(fresh_database_url, yahoo, clock=lambda: NOW) as rest:
        for path in (
            "/api/data/AAPL?interval=1h&start=2024-06-01&end=2024-06-30",
            "/api/providers/yahoo-like/data/AAPL?interval=1h&start=2024-06-01&end=2024-06-30",
        ):
            status, body, _ = await rest.get(path)
            assert status == 503, body
            assert body["error"]["code"] == "PROVIDER_UNAVAILABLE"
            assert body["error"]["message"] == (
                "no provider can serve AAPL 1h in this range (yahoo-like: serves 1h bars only "
                "for the last 730 days (from 2024-12-01))"
            )
            assert body["error"]["details"]["excluded"] == {
                "yahoo-like": "serves 1h bars only for the last 730 days (from 2024-12-01)"
            }
        assert yahoo.requests == []  # never asked for what it cannot serve

        # Inside the window it serves; daily bars have no such window.
        status, body, _ = await rest.get(
            "/api/data/AAPL?interval=1h&start=2026-06-01T00:00&end=2026-06-01T03:00"
        )
        assert (status, body["data"]["count"]) == (200, 3)
        status, body, _ = await rest.get(
            "/api/data/AAPL?interval=1d&start=2024-06-03&end=2024-06-04"
        )
        assert (status, body["data"]["count"]) == (200, 2)


async def test_another_provider_serves_what_is_outside_the_window(fresh_database_url):
    yahoo, deep = _yahoo_like(), RecordingProvider("deep", intervals=["1h"])
    async with running_rest(fresh_database_url, yahoo, deep, clock=lambda: NOW) as rest:
        status, body, _ = await rest.get(
            "/api/data/AAPL?interval=1h&start=2024-06-03T00:00&end=2024-06-03T02:00"
        )
        assert status == 200, body
        assert body["data"]["provider"] == "deep"
