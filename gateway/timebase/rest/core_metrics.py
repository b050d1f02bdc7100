"""The gateway core's state as Prometheus metrics, read at scrape time (see `timebase.rest.metrics`
for the whole list): providers, the store's cache, the database pool, the fetch leases and the
real-time hub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


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
            yield self._lookups()
        if self.store is not None:
            yield from self._pool()
            yield from self._leases()
            yield from self._hot_tier()
        if self.realtime is not None:
            yield from self._realtime()

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
        remaining = GaugeMetricFamily(
            "timebase_provider_quota_remaining_ratio",
            "Share of the provider's quota left in its tightest window (per minute or per day; "
            "1 without limits, 0 while blocked).",
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
            limits = view.manifest.rate_limits if view.manifest is not None else None
            remaining.add_metric([slug], float(history.quota.status(slug, limits).remaining))
        yield from (fetches, up, latency, uptime, restarts, circuit, today, remaining)

    def _lookups(self) -> Metric:
        family = CounterMetricFamily(
            "timebase_store_lookups",
            "Series lookups by how much of the range the store held: hit (all, nothing "
            "fetched), partial (some; the rest fetched or refreshed), miss (nothing).",
            labels=["result"],
        )
        for result, count in self.history.store_lookups.items():
            family.add_metric([result], float(count))
        return family

    def _pool(self) -> Iterator[Metric]:
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
        yield family
        waiting = GaugeMetricFamily(
            "timebase_db_pool_waiting",
            "Callers waiting for a database connection (every connection in use).",
        )
        waiting.add_metric([], float(pool.waiting))
        yield waiting

    def _leases(self) -> Iterator[Metric]:
        leases = getattr(self.store, "leases", None)
        if leases is None:
            return
        counters = (
            (
                "timebase_fetch_leases_acquired",
                "Per-series fetch leases taken (docs/scaling.md).",
                float(leases.granted),
            ),
            (
                "timebase_fetch_lease_waits",
                "Fetch leases waited for: another gateway was filling the series.",
                float(leases.waited),
            ),
            (
                "timebase_fetch_lease_wait_seconds",
                "Seconds spent waiting for fetch leases another gateway held.",
                float(leases.wait_seconds),
            ),
        )
        for name, doc, value in counters:
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], value)
            yield counter

    def _hot_tier(self) -> Iterator[Metric]:
        tier = getattr(self.store, "hot_tier", None)
        if tier is None:
            return
        size = GaugeMetricFamily(
            "timebase_hot_tier_bytes",
            "Bytes of the hot tier's memory-mapped segment files (page cache, not the heap).",
        )
        size.add_metric([], float(tier.size))
        segments = GaugeMetricFamily("timebase_hot_tier_segments", "Hot tier segments kept.")
        segments.add_metric([], float(len(tier)))
        reads = CounterMetricFamily(
            "timebase_hot_tier_reads",
            "Hot tier lookups: hit (served from a segment), miss (read from the database), "
            "stale (a segment dropped: its series was written since).",
            labels=["result"],
        )
        for result, count in (
            ("hit", tier.stats.hits),
            ("miss", tier.stats.misses),
            ("stale", tier.stats.stale),
        ):
            reads.add_metric([result], float(count))
        evictions = CounterMetricFamily(
            "timebase_hot_tier_evictions", "Segments evicted to stay under hot_tier.max_size_mb."
        )
        evictions.add_metric([], float(tier.stats.evictions))
        too_large = CounterMetricFamily(
            "timebase_hot_tier_too_large",
            "Ranges not kept because their segment alone exceeds hot_tier.max_size_mb.",
        )
        too_large.add_metric([], float(tier.stats.too_large))
        yield from (size, segments, reads, evictions, too_large)

    def _realtime(self) -> Iterator[Metric]:
        hub = self.realtime
        gauges = (
            (
                "timebase_realtime_clients",
                "Real-time stream clients (gRPC and WebSocket).",
                "clients",
            ),
            ("timebase_realtime_subscriptions", "Client subscriptions.", "subscriptions"),
            (
                "timebase_realtime_upstream_calls",
                "Open upstream real-time calls.",
                "upstream_calls",
            ),
            ("timebase_realtime_queue_depth", "Messages waiting in client queues.", "queued"),
        )
        for name, doc, attribute in gauges:
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], float(getattr(hub, attribute)))
            yield gauge
        dropped = CounterMetricFamily(
            "timebase_realtime_dropped",
            "Bars dropped from slow clients' queues, by kind (final bars stay stored).",
            labels=["kind"],
        )
        for kind, count in hub.dropped().items():
            dropped.add_metric([kind], float(count))
        yield dropped
        skipped = CounterMetricFamily(
            "timebase_realtime_skipped", "Upstream real-time bars skipped for unusable values."
        )
        skipped.add_metric([], float(hub.skipped))
        yield skipped
