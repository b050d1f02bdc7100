"""Bars through the REST door: JSON, CSV and Arrow bodies, dates as people type them, gzip."""

from __future__ import annotations

import asyncio
import gzip
import importlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pyarrow as pa

from tests.gateway.support import DAY, T0, RecordingProvider, bar_values

from .conftest import running_rest

pd: Any = importlib.import_module("pandas")  # no type stubs

ARROW = "application/vnd.apache.arrow.stream"


def _us(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000


async def test_json_bars_exact_values_with_z_timestamps(fresh_database_url):
    alpha = RecordingProvider("alpha", base=100)
    async with running_rest(fresh_database_url, alpha) as rest:
        status, body, resp = await rest.get(
            "/api/data/syn:acme?interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-04T00:00:00Z"
        )
        assert status == 200, body
        assert resp.headers["Content-Type"].startswith("application/json")
        assert body["success"] is True
        assert set(body["meta"]) == {"requestId", "timestamp", "processingTimeMs"}
        assert body["meta"]["requestId"] == resp.headers["X-Request-ID"]
        assert body["meta"]["timestamp"].endswith("Z")
        data = body["data"]
        assert (data["symbol"], data["interval"], data["provider"], data["count"]) == (
            "SYN:ACME",
            "1d",
            "alpha",
            3,
        )
        assert data["warnings"] == []
        expected = []
        for i in range(3):
            ts = T0 + i * DAY
            o, h, lo, c, v = bar_values(100, _us(ts))
            expected.append(
                {
                    "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "open": o,
                    "high": h,
                    "low": lo,
                    "close": c,
                    "volume": v,
                    "provider": "alpha",
                }
            )
        assert data["data"] == expected
        assert data["data"][0]["timestamp"] == "2024-01-01T00:00:00Z"
        assert all(isinstance(bar["open"], float) for bar in data["data"])


async def test_date_only_end_includes_the_whole_day_and_provider_aware_route(fresh_database_url):
    alpha, beta = RecordingProvider("alpha", base=100), RecordingProvider("beta", base=500)
    async with running_rest(fresh_database_url, alpha, beta) as rest:
        status, body, _ = await rest.get(
            "/api/providers/beta/data/SYN:X?interval=1d&start=2024-01-01&end=2024-01-03"
        )
        assert status == 200, body
        stamps = [b["timestamp"] for b in body["data"]["data"]]
        assert stamps == ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]
        assert body["data"]["provider"] == "beta"
        assert {b["provider"] for b in body["data"]["data"]} == {"beta"}
        assert beta.requests[0][2:] == (T0, T0 + 3 * DAY)
        assert alpha.requests == []
        # An offset is honoured; a naive datetime is UTC.
        status, body, _ = await rest.get(
            "/api/providers/beta/data/SYN:X?interval=1d&start=2024-01-01T02:00:00%2B02:00"
            "&end=2024-01-02T12:00"
        )
        assert [b["timestamp"] for b in body["data"]["data"]] == [
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
        ]
        # limit: the N most recent bars of the range.
        status, body, _ = await rest.get(
            "/api/providers/beta/data/SYN:X?interval=1d&start=2024-01-01&end=2024-01-03&limit=2"
        )
        assert [b["timestamp"] for b in body["data"]["data"]] == [
            "2024-01-02T00:00:00Z",
            "2024-01-03T00:00:00Z",
        ]


async def test_csv_and_arrow_bodies_parse_to_the_stored_values(fresh_database_url):
    alpha = RecordingProvider("alpha", base=100)
    async with running_rest(fresh_database_url, alpha) as rest:
        query = "/api/data/SYN:ACME?interval=1h&start=2024-01-01&end=2024-01-01"
        status, body, resp = await rest.get(query, headers={"Accept": "text/csv"})
        assert status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert json.loads(resp.headers["X-TimeBase-Warnings"]) == []
        frame = await asyncio.to_thread(pd.read_csv, io.BytesIO(body))  # pandas reads blocking
        stored = await rest.gw.store.read_table("SYN:ACME", "1h", T0, T0 + DAY, provider="alpha")
        assert stored.num_rows == 24
        assert list(frame.columns) == [
            "symbol",
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "interval",
            "provider",
            "metadata",
        ]
        assert frame["timestamp"].iloc[1] == "2024-01-01T01:00:00Z"
        assert pd.to_datetime(frame["timestamp"]).tolist() == [
            pd.Timestamp(t) for t in stored.column("timestamp").to_pylist()
        ]
        for name in ("open", "high", "low", "close", "volume"):
            assert frame[name].tolist() == stored.column(name).to_pylist()
        assert set(frame["provider"]) == {"alpha"}
        assert frame["metadata"].isna().all()

        status, body, resp = await rest.get(query, headers={"Accept": ARROW})
        assert status == 200
        assert resp.headers["Content-Type"] == ARROW
        table = pa.ipc.open_stream(body).read_all()
        assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        assert table.replace_schema_metadata(None).equals(stored)
        assert table.to_pandas()["close"].tolist() == stored.column("close").to_pylist()

        # ?format= overrides Accept; an unknown one is a 400.
        status, body, resp = await rest.get(query + "&format=csv", headers={"Accept": ARROW})
        assert resp.headers["Content-Type"].startswith("text/csv")
        status, body, _ = await rest.get(query + "&format=xml")
        assert (status, body["error"]["code"]) == (400, "INVALID_REQUEST")
        assert body["error"]["message"] == "format: unknown format 'xml'; use json, csv or arrow"


async def test_gzip_when_asked(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_rest(fresh_database_url, alpha) as rest:
        url = rest.url("/api/data/SYN:ACME?interval=1h&start=2024-01-01&end=2024-01-02")
        async with aiohttp.ClientSession(auto_decompress=False) as raw:
            async with raw.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                assert resp.headers["Content-Encoding"] == "gzip"
                body = json.loads(gzip.decompress(await resp.read()))
                assert body["data"]["count"] == 48
            async with raw.get(url, headers={"Accept-Encoding": "identity"}) as resp:
                assert "Content-Encoding" not in resp.headers
                assert json.loads(await resp.read())["data"]["count"] == 48


async def test_more_than_100k_bars_in_json_is_refused_before_work_but_arrow_holds_them(
    fresh_database_url,
):
    alpha = RecordingProvider("alpha", intervals=["1h"])
    async with running_rest(fresh_database_url, alpha) as rest:
        query = "/api/data/SYN:BIG?interval=1h&start=2010-01-01&end=2021-12-31"
        status, body, _ = await rest.get(query)
        assert status == 400
        assert body["error"]["code"] == "INVALID_TIME_RANGE"
        assert body["error"]["message"] == (
            "end: [2010-01-01T00:00:00+00:00, 2022-01-01T00:00:00+00:00) holds up to 105,192 1h "
            "bars, more than the 100,000 a JSON or CSV response may hold (rest.max_bars_text): "
            "ask for a shorter range or a coarser interval, or set limit, or ask for Arrow "
            "(Accept: application/vnd.apache.arrow.stream) or use Arrow Flight"
        )
        assert body["error"]["details"] == {
            "field": "end",
            "estimate": 105_192,
            "max_bars": 100_000,
            "limit_key": "rest.max_bars_text",
        }
        status, body, _ = await rest.get(query, headers={"Accept": "text/csv"})
        assert status == 400
        assert alpha.requests == []  # refused before any provider was asked
        status, body, _ = await rest.get(query, headers={"Accept": ARROW})
        assert status == 200
        table = pa.ipc.open_stream(body).read_all()
        assert table.num_rows == 105_192
        assert table.column("timestamp")[0].as_py() == datetime(2010, 1, 1, tzinfo=UTC)
        # Exactly at the limit is fine.
        status, body, _ = await rest.get(query + "&limit=100000")
        assert status == 200
        assert body["data"]["count"] == 100_000
        assert body["data"]["data"][-1]["timestamp"] == "2021-12-31T23:00:00Z"
