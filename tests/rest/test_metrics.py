"""`GET /metrics` of a real server: every name the Prometheus rules and the Grafana dashboard
(deploy/) query is served, with the values the requests made before the scrape imply."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.deploy import monitoring
from tests.gateway.support import RecordingProvider
from timebase.core.build import COMMIT, VERSION
from timebase.core.config import RoutingConfig
from timebase.gateway.realtime import RealtimeHub
from timebase.sdk.errors import InvalidArgument
from timebase.store.hot_tier import HotTier

from .conftest import running_rest

DATA = "/api/data/SYN:A?interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-04T00:00:00Z"
#: Read at import: the test's event loop must not block on files.
QUERIED = monitoring.raw_metrics()
WIDER = "/api/data/SYN:A?interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-06T00:00:00Z"


async def test_every_metric_the_rules_and_dashboard_query_is_served(fresh_database_url):
    alpha, beta = RecordingProvider("alpha"), RecordingProvider("beta")
    beta.fail = InvalidArgument("no such thing here")  # not transient: asked once, then alpha
    routing = RoutingConfig(backoff_seconds=0.01, retries=1, priorities={"beta": 1, "alpha": 2})

    def hub(store: Any) -> RealtimeHub:
        return RealtimeHub(store, lambda symbol, interval: [])

    async with running_rest(fresh_database_url, alpha, beta, routing=routing, realtime=hub) as rest:
        for path in (DATA, DATA, WIDER):  # nothing stored, all of it, some of it
            status, body, _ = await rest.get(path)
            assert status == 200, body
        status, text, _ = await rest.get("/metrics")
    assert status == 200
    families = list(text_string_to_metric_families(text.decode()))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    served = {name for name, _ in samples}
    assert QUERIED - served == set()

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("timebase_build_info", version=VERSION, commit=COMMIT) == 1
    assert value("timebase_store_lookups_total", result="miss") == 1
    assert value("timebase_store_lookups_total", result="hit") == 1
    assert value("timebase_store_lookups_total", result="partial") == 1
    # beta failed each of the two fetches (a miss, then the wider range's gap) once; alpha
    # served them.
    assert (
        value("timebase_provider_fetch_errors_total", provider="beta", status="INVALID_ARGUMENT")
        == 2
    )
    assert value("timebase_provider_fetch_duration_seconds_count", provider="alpha") == 2
    assert value("timebase_provider_fetch_duration_seconds_count", provider="beta") == 2
    assert (
        "timebase_provider_fetch_errors_total",
        (("provider", "alpha"), ("status", "OK")),
    ) not in samples
    assert value("timebase_provider_quota_remaining_ratio", provider="alpha") == 1
    assert (
        value(
            "timebase_request_duration_seconds_count",
            door="rest",
            route="/api/data/{symbol}",
            method="GET",
        )
        == 3
    )
    assert value("timebase_db_pool_waiting") == 0
    # The miss and the partial request filled the series under its fetch lease, none waited;
    # the request answered from the store had nothing to fetch and took no lease.
    assert value("timebase_fetch_leases_acquired_total") == 2
    assert value("timebase_fetch_lease_waits_total") == 0
    assert value("timebase_fetch_lease_wait_seconds_total") == 0
    assert value("timebase_db_pool_connections", state="size") == 4
    assert value("timebase_realtime_dropped_total", kind="final") == 0
    assert value("timebase_realtime_dropped_total", kind="in_progress") == 0
    assert value("timebase_realtime_subscriptions") == 0
    assert value("timebase_realtime_queue_depth") == 0


async def test_hot_tier_metrics(fresh_database_url, tmp_path):
    tier = HotTier(tmp_path / "hot", max_bytes=64 << 20)
    async with running_rest(fresh_database_url, RecordingProvider("alpha"), hot_tier=tier) as rest:
        for _ in range(3):  # fetched and stored; read and kept; served from the segment
            status, body, _ = await rest.get(DATA)
            assert status == 200, body
        status, text, _ = await rest.get("/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text.decode())
        for s in f.samples
    }
    assert samples[("timebase_hot_tier_reads_total", (("result", "hit"),))] == 1
    assert samples[("timebase_hot_tier_reads_total", (("result", "miss"),))] == 1
    assert samples[("timebase_hot_tier_reads_total", (("result", "stale"),))] == 0
    assert samples[("timebase_hot_tier_segments", ())] == 1
    assert samples[("timebase_hot_tier_bytes", ())] > 0  # (the tier is closed: 0 now)
    assert tier.size == 0
    assert samples[("timebase_hot_tier_evictions_total", ())] == 0
    assert samples[("timebase_hot_tier_too_large_total", ())] == 0


async def test_a_range_too_large_for_the_hot_tier_is_counted_not_kept(fresh_database_url, tmp_path):
    tier = HotTier(tmp_path / "hot", max_bytes=256)  # smaller than any segment file
    async with running_rest(fresh_database_url, RecordingProvider("alpha"), hot_tier=tier) as rest:
        for _ in range(3):  # fetched and stored; read, too large to keep (twice)
            status, body, _ = await rest.get(DATA)
            assert status == 200, body
        status, text, _ = await rest.get("/metrics")
    assert status == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text.decode())
        for s in f.samples
    }
    assert samples[("timebase_hot_tier_too_large_total", ())] == 2
    assert samples[("timebase_hot_tier_segments", ())] == 0
    assert samples[("timebase_hot_tier_reads_total", (("result", "hit"),))] == 0
