"""`GET /metrics`: TimeBase's state in the Prometheus text format (prometheus-client).

Each `Metrics` has its own registry (never the process-global one), so several servers — and
tests — never clash. Doors record their requests with `observe(door, route, method, status,
seconds)` and the bars they serve with `rows_served(door, format, n)`; the core's fetcher records
each upstream provider request with `fetched(provider, status, seconds)`; the rest is read from
the gateway core at scrape time (`timebase.rest.core_metrics`). Names follow Prometheus'
conventions (base units, `_total` counters, `_seconds` histograms, `_ratio` gauges):

| metric | type | labels | what |
|---|---|---|---|
| `timebase_build_info` | gauge (1) | version, commit | what is running |
| `timebase_requests_total` | counter | door, route, method, status | requests answered |
| `timebase_request_duration_seconds` | histogram | door, route, method | time to answer |
| `timebase_rows_served_total` | counter | door, format | bars sent to clients |
| `timebase_bar_answers_total` | counter | door | historical answers served |
| `timebase_provider_fetches_total` | counter | — | upstream provider requests (cache misses) |
| `timebase_provider_fetch_duration_seconds` | histogram | provider | one upstream request |
| `timebase_provider_fetch_errors_total` | counter | provider, status | failed upstream requests |
| `timebase_provider_up` | gauge | provider, status | 1 when the provider is ready |
| `timebase_provider_latency_seconds` | gauge | provider | EWMA of health-probe round trips |
| `timebase_provider_uptime_ratio` | gauge | provider | share of successful probes |
| `timebase_provider_restarts_total` | counter | provider | restarts since the gateway started |
| `timebase_provider_circuit_open` | gauge | provider | 1 while the circuit breaker is open |
| `timebase_provider_requests_today` | gauge | provider | quota used today |
| `timebase_provider_quota_remaining_ratio` | gauge | provider | quota left (tightest window) |
| `timebase_store_lookups_total` | counter | result (hit, partial, miss) | series lookups |
| `timebase_db_pool_connections` | gauge | state (size, open, idle, in_use) | database pool |
| `timebase_db_pool_waiting` | gauge | — | callers waiting for a connection |
| `timebase_fetch_leases_acquired_total` | counter | — | per-series fetch leases taken |
| `timebase_fetch_lease_waits_total` | counter | — | leases waited for (another gateway filling) |
| `timebase_fetch_lease_wait_seconds_total` | counter | — | time spent waiting for leases |
| `timebase_realtime_clients` | gauge | — | real-time stream clients (gRPC and WebSocket) |
| `timebase_realtime_subscriptions` | gauge | — | client subscriptions |
| `timebase_realtime_upstream_calls` | gauge | — | open upstream real-time calls |
| `timebase_realtime_queue_depth` | gauge | — | messages waiting in client queues |
| `timebase_realtime_dropped_total` | counter | kind (final, in_progress) | bars dropped for slow clients |
| `timebase_realtime_skipped_total` | counter | — | upstream bars skipped for bad values |

Cache effectiveness: `timebase_store_lookups_total{result="hit"}` against all lookups.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from timebase.core.build import COMMIT, VERSION
from timebase.rest.core_metrics import CoreCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Upstream requests cross the network to a provider (and often the internet): longer buckets.
_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, history: Any = None, store: Any = None, realtime: Any = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        build = Gauge(
            "timebase_build_info",
            "The running TimeBase: its version and commit (always 1).",
            ["version", "commit"],
            registry=self.registry,
        )
        build.labels(VERSION, COMMIT).set(1)
        self.requests = Counter(
            "timebase_requests",
            "Requests answered, per door, route, method and status.",
            ["door", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "timebase_request_duration_seconds",
            "Time to answer a request, per door, route and method.",
            ["door", "route", "method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "timebase_rows_served",
            "Bars sent to clients, per door and format.",
            ["door", "format"],
            registry=self.registry,
        )
        self.answers = Counter(
            "timebase_bar_answers",
            "Historical answers served, per door.",
            ["door"],
            registry=self.registry,
        )
        self.fetch_latency = Histogram(
            "timebase_provider_fetch_duration_seconds",
            "Time of one upstream request to a provider (successful or not), per provider.",
            ["provider"],
            buckets=_FETCH_BUCKETS,
            registry=self.registry,
        )
        self.fetch_errors = Counter(
            "timebase_provider_fetch_errors",
            "Upstream requests that failed, per provider and gRPC status.",
            ["provider", "status"],
            registry=self.registry,
        )
        self.core = CoreCollector(history, store, realtime)
        self.registry.register(self.core)
        fetcher = getattr(history, "fetcher", None)
        if fetcher is not None:
            fetcher.observer = self  # the core records its upstream requests here

    def observe(
        self, door: str, route: str, method: str, status: int | str, seconds: float
    ) -> None:
        self.requests.labels(door, route, method, str(status)).inc()
        self.latency.labels(door, route, method).observe(seconds)

    def rows_served(self, door: str, fmt: str, rows: int) -> None:
        self.answers.labels(door).inc()
        self.rows.labels(door, fmt).inc(rows)

    def fetched(self, provider: str, status: str, seconds: float) -> None:
        self.fetch_latency.labels(provider).observe(seconds)
        if status != "OK":
            self.fetch_errors.labels(provider, status).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
