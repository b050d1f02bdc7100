"""Providers, symbols, health, version, X-Request-ID, OpenAPI (valid and complete), docs, metrics."""

from __future__ import annotations

import io
import json
import logging
import re

import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.support import DAY, T0, RecordingProvider
from timebase.rest import ERROR_CODES, build_spec
from timebase.sdk.logs import JsonFormatter
from timebase.store import BAR_SCHEMA

from .conftest import running_rest


async def test_providers_symbol_providers_health_and_version(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1h", "1d"])
    beta = RecordingProvider("beta", intervals=["1d"])
    async with running_rest(fresh_database_url, alpha, beta) as rest:
        # Bars imported under a name no add-on runs make a "stored" provider.
        await rest.gw.store.ingest(
            pa.table(
                {
                    "symbol": ["SYN:A"],
                    "timestamp": pa.array([T0], pa.timestamp("us", tz="UTC")),
                    "open": [1.0],
                    "high": [2.0],
                    "low": [0.5],
                    "close": [1.5],
                    "volume": [10.0],
                    "interval": ["1d"],
                    "provider": ["my-import"],
                    "metadata": [None],
                },
                schema=BAR_SCHEMA,
            )
        )
        status, body, _ = await rest.get("/api/providers")
        assert status == 200
        providers = body["data"]["providers"]
        assert [p["slug"] for p in providers] == ["alpha", "beta", "my-import"]
        first = providers[0]
        assert first["status"] == "ready"
        assert first["intervals"] == ["1h", "1d"]
        assert first["supportsHistorical"] is True
        assert first["circuit"] == "closed"
        assert first["quota"]["requestsToday"] == 0
        assert providers[2]["status"] == "stored"

        status, body, _ = await rest.get("/api/providers/beta")
        assert (status, body["data"]["slug"], body["data"]["intervals"]) == (200, "beta", ["1d"])

        status, body, _ = await rest.get("/api/symbols/syn:a/providers?interval=1h")
        assert status == 200
        data = body["data"]
        assert (data["symbol"], data["interval"]) == ("SYN:A", "1h")
        assert [c["slug"] for c in data["candidates"]] == ["alpha"]
        assert data["candidates"][0]["rank"] == 1
        assert data["excluded"][0]["slug"] == "beta"
        status, body, _ = await rest.get("/api/symbols/SYN:A/providers")
        assert body["data"]["interval"] == "1d"
        assert {c["slug"] for c in body["data"]["candidates"]} == {"alpha", "beta"}

        status, body, _ = await rest.get("/api/health")
        assert status == 200
        assert body["data"] == {
            "status": "healthy",
            "message": "ok",
            "database": {"up": True, "error": None},
            "providers": {"ready": 2, "total": 2, "down": []},
        }
        status, body, _ = await rest.get("/api/version")
        assert status == 200
        assert body["data"]["name"] == "TimeBase"
        assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["data"]["version"])


async def test_request_id_is_echoed_and_in_every_log_line(fresh_database_url):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("timebase")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
            status, body, resp = await rest.get(
                "/api/data/SYN:A?interval=1d&start=2024-01-01&end=2024-01-03",
                headers={"X-Request-ID": "abc-123"},
            )
            assert status == 200
            assert resp.headers["X-Request-ID"] == "abc-123"
            assert body["meta"]["requestId"] == "abc-123"
            # An unusable id (too long) is replaced by a fresh one.
            _, body, resp = await rest.get("/api/version", headers={"X-Request-ID": "x" * 200})
            assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
            assert body["meta"]["requestId"] == resp.headers["X-Request-ID"]
            _, _, resp = await rest.get("/api/providers/nobody", headers={"X-Request-ID": "e-1"})
            assert resp.headers["X-Request-ID"] == "e-1"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    entries = [json.loads(line) for line in lines.getvalue().splitlines()]
    mine = [e for e in entries if e.get("correlation_id") == "abc-123"]
    assert any(e["message"].startswith("GET /api/data/SYN:A?") for e in mine)
    assert any(e["logger"].startswith("timebase.gateway") for e in mine)  # the core's lines too
    access = [e for e in entries if e["logger"] == "timebase.rest" and e["message"].endswith(" ms")]
    assert len(access) == 3
    assert all("correlation_id" in e for e in access)
    assert any(e.get("correlation_id") == "e-1" and "nobody" in e["message"] for e in entries)


def _registered(app) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }


async def test_openapi_is_valid_and_documents_every_route(fresh_database_url):
    async with running_rest(fresh_database_url) as rest:
        status, spec, _ = await rest.get("/openapi.json")
        assert status == 200
        assert spec == json.loads(json.dumps(build_spec(spec["info"]["version"])))
        documented = {(m, path) for path, item in spec["paths"].items() for m in item}
        assert documented == _registered(rest.server.app)

        # Structural validity: OpenAPI 3.1 essentials, every $ref resolves, path parameters
        # are declared, every operation has responses and a unique operationId.
        assert spec["openapi"].startswith("3.1.")
        assert {"title", "version"} <= set(spec["info"])
        text = json.dumps(spec)
        for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
            node = spec
            for part in ref.removeprefix("#/").split("/"):
                node = node[part]
        params = spec["components"]["parameters"]
        ids = []
        for path, item in spec["paths"].items():
            for op in item.values():
                ids.append(op["operationId"])
                assert op["responses"]
                declared = {
                    params[p["$ref"].rsplit("/", 1)[-1]]["name"]
                    for p in op.get("parameters", [])
                    if params[p["$ref"].rsplit("/", 1)[-1]]["in"] == "path"
                }
                assert declared == set(re.findall(r"{(\w+)}", path)), path
        assert len(ids) == len(set(ids))
        assert set(spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]) == set(
            ERROR_CODES
        )

        status, page, resp = await rest.get("/docs")
        assert status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        html = page.decode()
        assert "<script" not in html
        assert "http://" not in html
        assert "https://" not in html
        for path in spec["paths"]:
            assert f"<code>{path}</code>" in html
        for code in ERROR_CODES:
            assert code in html


async def test_metrics_parse_and_count_requests(fresh_database_url):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        for _ in range(3):
            await rest.get("/api/version")
        await rest.get(f"/api/data/SYN:A?interval=1d&start=2024-01-01&end={(T0 + DAY).date()}")
        await rest.get("/nowhere")
        status, text, resp = await rest.get("/metrics")
        assert status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}

        def value(family: str, suffix: str = "", **labels: str) -> float:
            return next(
                s.value
                for s in families[family].samples
                if s.name == family + suffix
                and all(s.labels.get(k) == v for k, v in labels.items())
            )

        assert value("timebase_requests", "_total", route="/api/version", status="200") == 3
        assert value("timebase_requests", "_total", route="unmatched", status="404") == 1
        assert (
            value("timebase_request_duration_seconds", "_count", door="rest", route="/api/version")
            == 3
        )
        assert value("timebase_rows_served", "_total", door="rest", format="json") == 2
        assert value("timebase_bar_answers", "_total", door="rest") == 1
        assert value("timebase_provider_fetches", "_total") == 1
        assert value("timebase_provider_up", provider="alpha", status="ready") == 1
        assert value("timebase_provider_restarts", "_total", provider="alpha") == 0
        assert value("timebase_db_pool_connections", state="size") == 4
        assert value("timebase_db_pool_connections", state="open") >= 1
