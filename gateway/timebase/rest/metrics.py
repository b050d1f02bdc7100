"""`GET /metrics`: TimeBase's state in the Prometheus text format (prometheus-client).

Each `Metrics` has its own registry (never the process-global one), so several servers — and
tests — never clash. Doors record their requests with `observe(door, route, method, status,
seconds)` and the bars they serve with `rows_served(door, format, n)`; the rest is read from the
gateway core at scrape time:

| metric | type | labels | what |
|---|---|---|---|
| `timebase_requests_total` | counter | door, route, method, status | requests answered |
| `timebase_request_duration_seconds` | histogram | door, route | time to answer |
| `timebase_rows_served_total` | counter | door, format | bars sent to clients |
| `timebase_bar_answers_total` | counter | door | historical answers served |
| `timebase_provider_fetches_total` | counter | — | upstream provider requests (cache misses) |
| `timebase_provider_up` | gauge | provider, status | 1 when the provider is ready |
| `timebase_provider_latency_seconds` | gauge | provider | EWMA of health-probe round trips |
| `timebase_provider_uptime_ratio` | gauge | provider | share of successful probes |
| `timebase_provider_restarts_total` | counter | provider | restarts since the gateway started |
| `timebase_provider_circuit_open` | gauge | provider | 1 while the circuit breaker is open |
| `timebase_provider_requests_today` | gauge | provider | quota used today |
| `timebase_db_pool_connections` | gauge | state (size, open, idle, in_use) | database pool |
| `timebase_realtime_clients` | gauge | — | real-time stream clients (gRPC and WebSocket) |
| `timebase_realtime_upstream_calls` | gauge | — | open upstream real-time calls |

Cache effectiveness: `timebase_provider_fetches_total` against `timebase_bar_answers_total`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, history: Any = None, store: Any = None, realtime: Any = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "timebase_requests",
            "Requests answered, per door, route, method and status.",
            ["door", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "timebase_request_duration_seconds",
            "Time to answer a request, per door and route.",
            ["door", "route"],
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
        self.core = CoreCollector(history, store, realtime)
        self.registry.register(self.core)

    def observe(
        self, door: str, route: str, method: str, status: int | str, seconds: float
    ) -> None:
        self.requests.labels(door, route, method, str(status)).inc()
        self.latency.labels(door, route).observe(seconds)

    def rows_served(self, door: str, fmt: str, rows: int) -> None:
        self.answers.labels(door).inc()
        self.rows.labels(door, fmt).inc(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CoreCollector(Collector):
    """Gateway-core state read at scrape time: providers, cache, database pool, real-time."""

    def __init__(self, history: Any, store: Any, realtime: Any) -> None:
        self.history = history
        self.store = store
        self.realtime = realtime

    def describe(self) -> list[Metric]:
        return []  # dynamic: nothing checked at registration

    def collect(self) -> Iterator[Metric]:
        if self.history is not None:
            yield from self._providers()
        if self.store is not None:
            yield self._pool()
        if self.realtime is not None:
            clients = GaugeMetricFamily(
                "timebase_realtime_clients", "Real-time stream clients (gRPC and WebSocket)."
            )
            clients.add_metric([], float(self.realtime.clients))
            yield clients
            calls = GaugeMetricFamily(
                "timebase_realtime_upstream_calls", "Open upstream real-time calls."
            )
            calls.add_metric([], float(self.realtime.upstream_calls))
            yield calls

    def _providers(self) -> Iterator[Metric]:
        history = self.history
        fetches = CounterMetricFamily(
            "timebase_provider_fetches",
            "Upstream provider requests made by the gap-aware cache (cache misses).",
        )
        fetches.add_metric([], float(history.upstream_requests))
        up = GaugeMetricFamily(
            "timebase_provider_up", "1 when the provider is ready.", labels=["provider", "status"]
        )
        latency = GaugeMetricFamily(
            "timebase_provider_latency_seconds",
            "EWMA of the provider's health-probe round trips.",
            labels=["provider"],
        )
        uptime = GaugeMetricFamily(
            "timebase_provider_uptime_ratio",
            "Share of the provider's health probes that succeeded.",
            labels=["provider"],
        )
        restarts = CounterMetricFamily(
            "timebase_provider_restarts",
            "Provider restarts since the gateway started.",
            labels=["provider"],
        )
        circuit = GaugeMetricFamily(
            "timebase_provider_circuit_open",
            "1 while the provider's circuit breaker is open.",
            labels=["provider"],
        )
        today = GaugeMetricFamily(
            "timebase_provider_requests_today",
            "Requests counted against the provider's daily quota today.",
            labels=["provider"],
        )
        for view in history.providers():
            slug = view.slug
            up.add_metric([slug, str(view.status)], 1.0 if view.ready else 0.0)
            if view.latency_ms is not None:
                latency.add_metric([slug], view.latency_ms / 1000)
            if view.uptime is not None:
                uptime.add_metric([slug], float(view.uptime))
            restarts.add_metric([slug], float(view.restarts))
            circuit.add_metric([slug], 1.0 if history.breaker.state(slug) == "open" else 0.0)
            today.add_metric([slug], float(history.quota.use(slug).day_used))
        yield from (fetches, up, latency, uptime, restarts, circuit, today)

    def _pool(self) -> Metric:
        pool = self.store.pool
        family = GaugeMetricFamily(
            "timebase_db_pool_connections", "Database connection pool.", labels=["state"]
        )
        opened = int(getattr(pool, "_opened", 0))
        idle = len(getattr(pool, "_idle", ()))
        family.add_metric(["size"], float(pool.size))
        family.add_metric(["open"], float(opened))
        family.add_metric(["idle"], float(idle))
        family.add_metric(["in_use"], float(max(0, opened - idle)))
        return family
