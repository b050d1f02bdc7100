"""`GET /api/data/{symbol}/summary`: what is stored per interval and provider, checked against
the OpenAPI document (both database backends)."""

from __future__ import annotations

import pyarrow as pa

from tests.gateway.support import T0, RecordingProvider
from timebase.store import BAR_SCHEMA

from .conftest import running_rest
from .openapi_check import validate

PATH = "/api/data/{symbol}/summary"


def _imported(symbol: str, provider: str) -> pa.Table:
    return pa.table(
        {
            "symbol": [symbol, symbol],
            "timestamp": pa.array([T0, T0.replace(day=2)], pa.timestamp("us", tz="UTC")),
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [0.5, 0.5],
            "close": [1.5, 1.5],
            "volume": [10.0, 10.0],
            "interval": ["1d", "1d"],
            "provider": [provider, provider],
            "metadata": [None, None],
        },
        schema=BAR_SCHEMA,
    )


async def test_summary_lists_each_series_with_counts_and_covered_ranges(fresh_database_url):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        for query in (
            "interval=1d&start=2024-01-01&end=2024-01-04",
            "interval=1d&start=2024-01-10&end=2024-01-12",
            "interval=1h&start=2024-01-01T00:00&end=2024-01-01T05:00",
        ):
            status, _, _ = await rest.get(f"/api/data/syn:a?{query}")
            assert status == 200
        await rest.gw.store.ingest(_imported("SYN:A", "my-import"))

        status, body, _ = await rest.get("/api/data/syn:a/summary")
        assert status == 200
        validate(PATH, "get", 200, body)
        assert body["data"] == {
            "symbol": "SYN:A",
            "totalBars": 14,
            "earliest": "2024-01-01T00:00:00Z",
            "latest": "2024-01-12T00:00:00Z",
            "providers": ["alpha", "my-import"],
            "intervals": ["1h", "1d"],
            "series": [
                {
                    "interval": "1h",
                    "provider": "alpha",
                    "count": 5,
                    "earliest": "2024-01-01T00:00:00Z",
                    "latest": "2024-01-01T04:00:00Z",
                    "covered": [{"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T05:00:00Z"}],
                    "gaps": [],
                    "closed": [],
                },
                {
                    "interval": "1d",
                    "provider": "alpha",
                    "count": 7,
                    "earliest": "2024-01-01T00:00:00Z",
                    "latest": "2024-01-12T00:00:00Z",
                    "covered": [  # date-only ends include that day
                        {"start": "2024-01-01T00:00:00Z", "end": "2024-01-05T00:00:00Z"},
                        {"start": "2024-01-10T00:00:00Z", "end": "2024-01-13T00:00:00Z"},
                    ],
                    # No calendar: the whole hole between fetched ranges is a gap.
                    "gaps": [{"start": "2024-01-05T00:00:00Z", "end": "2024-01-10T00:00:00Z"}],
                    "closed": [],
                },
                {
                    "interval": "1d",
                    "provider": "my-import",
                    "count": 2,
                    "earliest": "2024-01-01T00:00:00Z",
                    "latest": "2024-01-02T00:00:00Z",
                    "covered": [],
                    "gaps": [],
                    "closed": [],
                },
            ],
        }
        # Only the store is read: no provider was asked for the summary.
        assert len(rest.gw.providers["alpha"].requests) == 3


async def test_summary_of_a_fetched_range_without_bars_and_of_nothing(fresh_database_url):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        await rest.gw.store.record_coverage("SYN:B", "1d", "alpha", T0, T0.replace(day=3))
        status, body, _ = await rest.get("/api/data/SYN:B/summary")
        assert status == 200
        validate(PATH, "get", 200, body)
        assert body["data"]["totalBars"] == 0
        assert (body["data"]["earliest"], body["data"]["latest"]) == (None, None)
        assert body["data"]["series"] == [
            {
                "interval": "1d",
                "provider": "alpha",
                "count": 0,
                "earliest": None,
                "latest": None,
                "covered": [{"start": "2024-01-01T00:00:00Z", "end": "2024-01-03T00:00:00Z"}],
                "gaps": [],
                "closed": [],
            }
        ]

        status, body, _ = await rest.get("/api/data/NOTHING/summary")
        assert status == 200
        validate(PATH, "get", 200, body)
        assert body["data"] == {
            "symbol": "NOTHING",
            "totalBars": 0,
            "earliest": None,
            "latest": None,
            "providers": [],
            "intervals": [],
            "series": [],
        }


async def test_summary_refuses_bad_symbols_and_unknown_parameters(fresh_database_url):
    async with running_rest(fresh_database_url) as rest:
        status, body, _ = await rest.get("/api/data/A%20B/summary")
        assert status == 400
        validate(PATH, "get", 400, body)
        assert body["error"]["code"] == "INVALID_REQUEST"
        assert body["error"]["message"] == (
            "symbol: 'A B' may contain only letters, digits and . - ^ = : _"
        )
        status, body, _ = await rest.get("/api/data/AAPL/summary?interval=1d")
        assert status == 400
        assert body["error"]["message"] == "interval: unknown query parameter (known: none)"
