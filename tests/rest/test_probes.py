"""Liveness and readiness (`/api/health/live`, `/api/health/ready`) and the original TimeBase's
aliases (`/health`, `/health/live`, `/health/ready`), checked against the OpenAPI document."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from tests.gateway.support import RecordingProvider
from timebase.core.config import RestConfig
from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.providers import StaticProvider
from timebase.gateway.query import QueryApi
from timebase.rest import RestServer
from timebase.store import Store

from .conftest import NO_LIMIT, Rest, running_rest
from .openapi_check import validate


async def _get(rest: Rest, path: str) -> tuple[int, object]:
    status, body, resp = await rest.get(path)
    if resp.content_type == "application/json":
        validate(path.split("?", 1)[0], "get", status, body)
    return status, body


_DATABASE = {"Healthy": "The database answers", "Unhealthy": "The database does not answer"}


def _original(status: str, database: str, providers: str, ready: str) -> dict[str, object]:
    """The original's /health body without its durations; `ready`: "N of M"."""
    return {
        "status": status,
        "checks": [
            {"name": "database", "status": database, "description": _DATABASE[database]},
            {"name": "providers", "status": providers, "description": f"{ready} providers ready"},
        ],
    }


def _without_duration(body: object) -> object:
    """`body` without `totalDuration` and the checks' `duration` (milliseconds, checked)."""
    assert isinstance(body, dict)
    total = body.pop("totalDuration")
    assert isinstance(total, float | int)
    database, providers = (check.pop("duration") for check in body["checks"])
    assert 0 <= database <= total
    assert providers == 0.0
    return body


def _down(rest: Rest, slug: str) -> None:
    """Mark a provider not ready, as the supervisor does when its health probes fail."""
    provider = rest.gw.providers[slug]
    address = rest.gw.servers[slug].target
    rest.gw.source.set(StaticProvider(slug, address, provider.manifest, status="unhealthy"))


async def test_probes_when_ready_degraded_and_without_providers(fresh_database_url):
    alpha, beta = RecordingProvider("alpha"), RecordingProvider("beta")
    async with running_rest(fresh_database_url, alpha, beta) as rest:
        status, body = await _get(rest, "/api/health/live")
        assert (status, body["data"]) == (200, {"status": "live"})  # type: ignore[index]
        status, body = await _get(rest, "/api/health/ready")
        assert (status, body["data"]) == (200, {"status": "ready"})  # type: ignore[index]
        status, body = await _get(rest, "/health")
        assert (status, _without_duration(body)) == (
            200,
            _original("Healthy", "Healthy", "Healthy", "2 of 2"),
        )
        status, body = await _get(rest, "/health/ready")
        assert (status, _without_duration(body)) == (
            200,
            _original("Healthy", "Healthy", "Healthy", "2 of 2"),
        )
        # /health/live: the original's documented JSON, or its ASP.NET writer's plain text to a
        # client that accepts only text/plain; compact JSON, as the original's checks grep it
        async with rest.http.get(rest.url("/health/live")) as resp:
            assert (resp.status, resp.content_type) == (200, "application/json")
            assert await resp.read() == b'{"status":"Healthy"}'
        async with rest.http.get(rest.url("/health"), headers={"Accept": "*/*"}) as resp:
            assert (await resp.read()).startswith(b'{"status":"Healthy","checks":[{')
        for accept in ("text/plain", "text/plain; charset=utf-8"):
            headers = {"Accept": accept}
            async with rest.http.get(rest.url("/health/live"), headers=headers) as resp:
                assert (resp.status, resp.content_type) == (200, "text/plain")
                assert await resp.read() == b"Healthy"
        status, body = await _get(rest, "/health/live")
        assert (status, body) == (200, {"status": "Healthy"})

        # One provider down: still ready, degraded.
        _down(rest, "beta")
        status, body = await _get(rest, "/api/health/ready")
        assert status == 200
        for path in ("/health", "/health/ready"):
            status, body = await _get(rest, path)
            assert (status, _without_duration(body)) == (
                200,
                _original("Degraded", "Healthy", "Degraded", "1 of 2"),
            )

        # No provider ready: not ready (503), though alive; /health says Degraded (stored bars
        # are still served).
        _down(rest, "alpha")
        status, body = await _get(rest, "/api/health/ready")
        assert status == 503
        assert body["error"] == {  # type: ignore[index]
            "code": "PROVIDER_UNAVAILABLE",
            "message": "not ready: no provider is ready",
            "details": {},
        }
        status, body = await _get(rest, "/health/ready")
        assert (status, _without_duration(body)) == (
            503,
            _original("Unhealthy", "Healthy", "Unhealthy", "0 of 2"),
        )
        status, body = await _get(rest, "/health")
        assert (status, _without_duration(body)) == (
            200,
            _original("Degraded", "Healthy", "Unhealthy", "0 of 2"),
        )
        assert (await _get(rest, "/api/health/live"))[0] == 200


@contextlib.asynccontextmanager
async def _without_database(database_url: str) -> AsyncIterator[Rest]:
    """A REST door whose health probe asks a database nothing listens for."""
    async with running_rest(database_url, RecordingProvider("alpha")) as rest:
        gone = Store("postgresql://timebase@127.0.0.1:1/none", pool_size=1, run_retention=False)
        api = QueryApi(rest.gw.history, probe=DatabaseProbe(gone, timeout=2.0))
        server = RestServer(api, port=0, config=NO_LIMIT)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Rest(rest.gw, server, http)
        finally:
            await server.stop()


async def test_probes_without_the_database(fresh_database_url):
    async with _without_database(fresh_database_url) as rest:
        assert (await _get(rest, "/api/health/live"))[0] == 200
        status, body = await _get(rest, "/api/health/ready")
        assert status == 503
        assert body["error"] == {  # type: ignore[index]
            "code": "DATABASE_ERROR",
            "message": "not ready: the database is unreachable",
            "details": {},
        }
        for path in ("/health", "/health/ready"):
            status, body = await _get(rest, path)
            assert (status, _without_duration(body)) == (
                503,
                _original("Unhealthy", "Unhealthy", "Healthy", "1 of 1"),
            )
        status, body, _ = await rest.get("/health/live")
        assert (status, body) == (200, {"status": "Healthy"})


async def test_probes_are_not_rate_limited_and_refuse_unknown_parameters(fresh_database_url):
    strict = RestConfig(rate_limit_per_second=1.0, rate_limit_burst=1)
    async with running_rest(fresh_database_url, RecordingProvider("alpha"), config=strict) as rest:
        for _ in range(5):
            for path in ("/api/health/live", "/api/health/ready", "/health", "/health/ready"):
                assert (await _get(rest, path))[0] == 200
        status, body = await _get(rest, "/api/health/live?verbose=1")
        assert status == 400
        assert body["error"]["message"] == (  # type: ignore[index]
            "verbose: unknown query parameter (known: none)"
        )
