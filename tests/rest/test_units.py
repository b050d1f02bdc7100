"""The REST door's pure parts: negotiation, the column-wise JSON encoder, the token bucket."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pyarrow as pa
import pytest

from timebase.rest.encoders import Format, json_rows, negotiate, rfc3339, top_provider
from timebase.rest.ratelimit import ClientRateLimiter
from timebase.store import BAR_SCHEMA


def bars(
    stamps_us: list[int], values: list[float], providers: list[str], meta: list[str | None]
) -> pa.Table:
    n = len(stamps_us)
    return pa.table(
        {
            "symbol": ["S"] * n,
            "timestamp": pa.array(stamps_us, pa.timestamp("us", tz="UTC")),
            "open": values,
            "high": values,
            "low": values,
            "close": values,
            "volume": values,
            "interval": ["1d"] * n,
            "provider": providers,
            "metadata": pa.array(meta, pa.string()),
        },
        schema=BAR_SCHEMA,
    )


def test_json_rows_are_exact_and_escape_what_needs_escaping():
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 2**64, 2000, dtype=np.uint64).view(np.float64)
    values = [float(v) for v in raw if math.isfinite(v)][:1000]
    values[:6] = [100.0, 0.1, -0.0, 1e15, 5e-324, 1 / 3]
    n = len(values)
    stamps = [1_704_067_200_000_000 + i * 86_400_000_000 for i in range(n)]
    providers = ["a", 'we"ird\\name', "ünï"] * (n // 3) + ["a"] * (n % 3)
    meta = [None, "{}", '{"adj_close": 1.5, "note": "x\\"y"}'] * (n // 3) + [None] * (n % 3)
    table = bars(stamps, values, providers, meta)
    decoded = orjson.loads(b"[" + json_rows(table) + b"]")
    assert [row["open"] for row in decoded] == values
    assert all(isinstance(row["volume"], float) for row in decoded)
    assert math.copysign(1, decoded[2]["open"]) == -1
    assert [row["provider"] for row in decoded] == providers
    assert decoded[0]["timestamp"] == "2024-01-01T00:00:00Z"
    assert "metadata" not in decoded[0]
    assert "metadata" not in decoded[1]
    assert decoded[2]["metadata"] == {"adj_close": 1.5, "note": 'x"y'}
    assert json.loads(b"[" + json_rows(table.slice(1, 2)) + b"]")[0]["provider"] == providers[1]
    assert json_rows(table.slice(0, 0)) == b""


def test_timestamps_are_rfc3339_z_with_fractions_only_when_needed():
    whole = pa.array([0, -1_000_000, 1_704_067_200_000_000], pa.timestamp("us", tz="UTC"))
    assert rfc3339(whole).to_pylist() == [
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2024-01-01T00:00:00Z",
    ]
    fraction = pa.array([0, 1_500_000], pa.timestamp("us", tz="UTC"))
    assert rfc3339(fraction).to_pylist() == [
        "1970-01-01T00:00:00.000000Z",
        "1970-01-01T00:00:01.500000Z",
    ]


def test_top_provider_is_single_or_mixed():
    one = bars([0, 1], [1.0, 2.0], ["a", "a"], [None, None])
    two = bars([0, 1], [1.0, 2.0], ["a", "b"], [None, None])
    assert top_provider(one) == "a"
    assert top_provider(two) == "mixed"
    assert top_provider(one.slice(0, 0)) is None


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Format.JSON),
        ("*/*", Format.JSON),
        ("text/csv", Format.CSV),
        ("application/vnd.apache.arrow.stream", Format.ARROW),
        ("text/csv;q=0.5, application/vnd.apache.arrow.stream", Format.ARROW),
        ("text/csv, */*;q=0.1", Format.CSV),
        ("*/*, text/csv", Format.CSV),
        ("application/xml", Format.JSON),
        ("text/csv;q=0", Format.JSON),
    ],
)
def test_negotiation(accept, expected):
    assert negotiate(accept) is expected


def test_token_bucket():
    now = [0.0]
    limiter = ClientRateLimiter(rate=2.0, burst=3, max_clients=2, clock=lambda: now[0])
    decisions = [limiter.take("a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[3].retry_after == pytest.approx(0.5)
    assert decisions[3].headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "2",
    }
    assert limiter.take("b").allowed  # other clients have their own bucket
    now[0] = 0.5
    assert limiter.take("a").allowed  # refilled one token
    limiter.take("c")  # a third client pushes out the least recently used ("b")
    assert limiter.take("b").remaining == 2
