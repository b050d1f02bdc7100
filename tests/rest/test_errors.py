"""Every error code of the REST door with its HTTP status and message, always the JSON envelope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway.support import RecordingProvider
from timebase.core.config import RestConfig
from timebase.sdk.errors import DatabaseError, RateLimited, SymbolNotFound, UpstreamUnavailable

from .conftest import running_rest

INTERVALS = "1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo"


def error(body: Any) -> tuple[str, str]:
    assert body["success"] is False
    assert set(body["meta"]) == {"requestId", "timestamp", "processingTimeMs"}
    return body["error"]["code"], body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        (
            "/api/data/SYN:A?start=2024-01-01",
            400,
            "INVALID_INTERVAL",
            f"interval: required; one of {INTERVALS}",
        ),
        (
            "/api/data/SYN:A?interval=2d&start=2024-01-01",
            400,
            "INVALID_INTERVAL",
            f"interval: unknown interval '2d'; valid intervals: {INTERVALS}",
        ),
        (
            "/api/data/SYN:A?interval=1d&start=2024-01-05&end=2024-01-01",
            400,
            "INVALID_TIME_RANGE",
            "start: must be before end (got start=2024-01-05T00:00:00+00:00, "
            "end=2024-01-02T00:00:00+00:00)",
        ),
        (
            "/api/data/SYN:A?interval=1d&start=yesterday",
            400,
            "INVALID_TIME_RANGE",
            "start: 'yesterday' is not an ISO 8601 date or datetime "
            "(e.g. 2024-01-02 or 2024-01-02T14:30:00Z)",
        ),
        (
            "/api/data/SYN:A?interval=1d",
            400,
            "INVALID_TIME_RANGE",
            "start: required unless limit is set",
        ),
        (
            "/api/data/SYN:A?interval=1m&start=1990-01-01&end=2024-01-01",
            400,
            "INVALID_TIME_RANGE",
            "end: [1990-01-01T00:00:00+00:00, 2024-01-02T00:00:00+00:00) holds up to "
            "17,883,360 1m bars, more than the 100,000 a JSON or CSV response may hold "
            "(rest.max_bars_text): ask for a shorter range or a coarser interval, or set limit, "
            "or ask for Arrow (Accept: application/vnd.apache.arrow.stream) or use Arrow Flight",
        ),
        (
            "/api/data/SYN:A?interval=1d&start=2024-01-01&end=9999-12-31",
            400,
            "INVALID_TIME_RANGE",
            "end: 9999-12-31 is out of range; dates from 1900-01-01 to 2200-01-01 (UTC) are "
            "accepted",
        ),
        (
            "/api/data/SYN:A?interval=1d&limit=abc",
            400,
            "INVALID_REQUEST",
            "limit: expected a positive integer, got 'abc'",
        ),
        (
            "/api/data/SYN:A?interval=1d&limit=5&intervall=1h",
            400,
            "INVALID_REQUEST",
            "intervall: unknown query parameter (known: adjust, end, format, interval, limit, refresh, "
            "start)",
        ),
        (
            "/api/data/BAD%20SYMBOL?interval=1d&limit=5",
            400,
            "INVALID_REQUEST",
            "symbol: 'BAD SYMBOL' may contain only letters, digits and . - ^ = : _",
        ),
        (
            "/api/providers/alpha/data/SYN:A?interval=1m&limit=5",
            400,
            "PROVIDER_CAPABILITY_MISSING",
            "provider: 'alpha' does not serve 1m",
        ),
        (
            "/api/providers/nobody/data/SYN:A?interval=1d&limit=5",
            404,
            "PROVIDER_NOT_FOUND",
            "provider: unknown provider 'nobody' (providers: alpha; no stored bars from "
            "'nobody' for SYN:A)",
        ),
        (
            "/api/providers/nobody",
            404,
            "PROVIDER_NOT_FOUND",
            "slug: unknown provider 'nobody' (providers: alpha)",
        ),
        (
            "/api/data/SYN:A?interval=1d&start=2100-01-01&end=2100-01-05",
            404,
            "DATA_UNAVAILABLE",
            "no 1d bars of SYN:A in [2100-01-01T00:00:00+00:00, 2100-01-06T00:00:00+00:00)",
        ),
        (
            "/api/providers/BAD%20SLUG",
            400,
            "INVALID_REQUEST",
            "slug: 'BAD SLUG' is not a provider slug (a-z, 0-9, '-', '_')",
        ),
        (
            "/api/stream",
            400,
            "INVALID_REQUEST",
            "GET /api/stream is a WebSocket: connect with a WebSocket client (headers Upgrade: "
            "websocket, Connection: Upgrade, Sec-WebSocket-Version: 13, Sec-WebSocket-Key)",
        ),
        (
            "/api/nothing/here",
            404,
            "ROUTE_NOT_FOUND",
            "no route GET /api/nothing/here; the routes are listed at /openapi.json and /docs",
        ),
    ],
)
async def test_request_errors(fresh_database_url, path, status, code, message):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        got_status, body, resp = await rest.get(path)
        assert resp.headers["Content-Type"].startswith("application/json")
        assert (got_status, *error(body)) == (status, code, message)


async def test_wrong_method_is_a_json_405(fresh_database_url):
    async with (
        running_rest(fresh_database_url) as rest,
        rest.http.put(rest.url("/api/providers")) as resp,
    ):
        body = await resp.json()
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, POST"
        assert error(body) == (
            "METHOD_NOT_ALLOWED",
            "method PUT is not allowed on /api/providers (allowed: GET, POST)",
        )


async def test_provider_failures_map_to_their_codes(fresh_database_url):
    alpha, beta = RecordingProvider("alpha"), RecordingProvider("beta")
    async with running_rest(fresh_database_url, alpha, beta) as rest:
        alpha.fail = beta.fail = SymbolNotFound("unknown symbol")
        status, body, _ = await rest.get("/api/data/SYN:NOPE?interval=1d&start=2024-01-01")
        code, message = error(body)
        assert (status, code) == (404, "SYMBOL_NOT_FOUND")
        assert message.startswith("symbol 'SYN:NOPE' was not found (")
        assert "alpha: NOT_FOUND" in message
        assert "beta: NOT_FOUND" in message

        alpha.fail = beta.fail = UpstreamUnavailable("upstream down")
        status, body, _ = await rest.get("/api/data/SYN:DOWN?interval=1d&start=2024-01-01")
        code, message = error(body)
        assert (status, code) == (503, "PROVIDER_UNAVAILABLE")
        assert message.startswith("every provider failed for SYN:DOWN 1d (")
        assert "upstream down" in message
        assert set(body["error"]["details"]["errors"]) == {"alpha", "beta"}


async def test_provider_rate_limited_is_429_with_retry_after(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_rest(fresh_database_url, alpha) as rest:
        alpha.fail = RateLimited("slow down", retry_after=30)
        status, body, resp = await rest.get("/api/data/SYN:RL?interval=1d&start=2024-01-01")
        code, message = error(body)
        assert (status, code) == (429, "PROVIDER_RATE_LIMITED")
        assert message.startswith("every provider for SYN:RL 1d is rate limited (alpha:")
        assert resp.headers["Retry-After"] == "30"
        assert body["error"]["details"]["retryAfterSeconds"] == 30


async def test_unexpected_errors_are_500_without_a_trace(fresh_database_url, monkeypatch):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:

        async def broken(*args, **kwargs):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(rest.gw.history, "get", broken)
        status, body, _ = await rest.get(
            "/api/data/SYN:A?interval=1d&limit=5", headers={"X-Request-ID": "req-500"}
        )
        assert status == 500
        assert error(body) == ("INTERNAL_ERROR", "internal error (request id req-500)")
        assert body["error"]["details"] == {}
        assert "secret" not in str(body)


async def test_database_down_is_503(fresh_database_url):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        await rest.gw.store.pool.stop()
        status, body, _ = await rest.get("/api/data/SYN:A?interval=1d&start=2024-01-01")
        assert (status, *error(body)) == (
            503,
            "DATABASE_ERROR",
            "the database connection pool is not running",
        )
        status, body, _ = await rest.get("/api/health")
        code, message = error(body)
        assert (status, code) == (503, "DATABASE_ERROR")
        assert message.startswith("the database is unreachable: ")
        assert body["error"]["details"]["status"] == "unhealthy"


async def test_database_restarting_is_503_with_retry_after(fresh_database_url):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        message = (
            "the embedded PostgreSQL stopped unexpectedly and is being restarted; try again in 3 s"
        )
        rest.gw.store.pool.suspend(DatabaseError(message, retry_after=3.2))
        status, body, response = await rest.get("/api/data/SYN:A?interval=1d&start=2024-01-01")
        assert (status, *error(body)) == (503, "DATABASE_ERROR", message)
        assert response.headers["Retry-After"] == "4"
        assert body["error"]["details"]["retryAfterSeconds"] == 4
        await rest.gw.store.pool.resume()
        status, _, response = await rest.get("/api/data/SYN:A?interval=1d&start=2024-01-01")
        assert status == 200


async def test_client_rate_limit_is_429_with_headers(fresh_database_url):
    config = RestConfig(rate_limit_per_second=0.5, rate_limit_burst=2)
    async with running_rest(fresh_database_url, config=config) as rest:
        first = await rest.get("/api/version")
        second = await rest.get("/api/version")
        third = await rest.get("/api/version")
        assert [r[0] for r in (first, second, third)] == [200, 200, 429]
        assert first[2].headers["X-RateLimit-Limit"] == "2"
        assert first[2].headers["X-RateLimit-Remaining"] == "1"
        assert second[2].headers["X-RateLimit-Remaining"] == "0"
        headers = third[2].headers
        assert headers["X-RateLimit-Remaining"] == "0"
        assert headers["X-RateLimit-Limit"] == "2"
        assert int(headers["X-RateLimit-Reset"]) in (3, 4)
        assert headers["Retry-After"] == "2"
        code, message = error(third[1])
        assert code == "RATE_LIMITED"
        assert message.startswith("too many requests: at most 0.5 per second with bursts of 2;")
        # Health, docs and metrics are never limited.
        assert (await rest.get("/api/health"))[0] == 200
        assert (await rest.get("/metrics"))[0] == 200
