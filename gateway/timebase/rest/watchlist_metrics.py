"""Watchlists as Prometheus metrics, read at scrape time (`timebase.gateway.watchlists`):

| metric | type | labels | what |
|---|---|---|---|
| `timebase_watchlist_items` | gauge | watchlist | symbol × interval items |
| `timebase_watchlist_items_done` | gauge | watchlist | items finished in the running (or last) run |
| `timebase_watchlist_running` | gauge | watchlist | 1 while a run is in progress |
| `timebase_watchlist_runs_total` | counter | watchlist, result (ok, partial, failed) | completed runs |
| `timebase_watchlist_skips_total` | counter | watchlist, reason (quota, error) | items skipped or cut short |
| `timebase_watchlist_last_run_start_timestamp_seconds` | gauge | watchlist | start of the last run |
| `timebase_watchlist_last_run_end_timestamp_seconds` | gauge | watchlist | end of the last run |
| `timebase_watchlist_next_run_timestamp_seconds` | gauge | watchlist | when it runs next |
| `timebase_watchlist_item_latest_bar_timestamp_seconds` | gauge | watchlist, symbol, interval | newest stored bar |
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

RESULTS = ("ok", "partial", "failed")
SKIP_REASONS = ("quota", "error")


class WatchlistCollector(Collector):
    """The watchlists' progress and last runs (`WatchlistRunner.states()`)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def describe(self) -> list[Metric]:
        return []  # dynamic: nothing checked at registration

    def collect(self) -> Iterator[Metric]:
        label = ["watchlist"]
        items = GaugeMetricFamily(
            "timebase_watchlist_items", "Symbol × interval items of the watchlist.", labels=label
        )
        done = GaugeMetricFamily(
            "timebase_watchlist_items_done",
            "Items finished in the watchlist's running run (or its last one).",
            labels=label,
        )
        running = GaugeMetricFamily(
            "timebase_watchlist_running", "1 while the watchlist runs.", labels=label
        )
        runs = CounterMetricFamily(
            "timebase_watchlist_runs",
            "Completed runs of the watchlist, by result (ok, partial, failed).",
            labels=["watchlist", "result"],
        )
        skips = CounterMetricFamily(
            "timebase_watchlist_skips",
            "Items skipped or cut short, by reason (quota: no quota left; error).",
            labels=["watchlist", "reason"],
        )
        times = {
            "last_start": GaugeMetricFamily(
                "timebase_watchlist_last_run_start_timestamp_seconds",
                "When the watchlist's last run started (Unix seconds).",
                labels=label,
            ),
            "last_end": GaugeMetricFamily(
                "timebase_watchlist_last_run_end_timestamp_seconds",
                "When the watchlist's last run ended (Unix seconds).",
                labels=label,
            ),
            "next_run": GaugeMetricFamily(
                "timebase_watchlist_next_run_timestamp_seconds",
                "When the watchlist runs next (Unix seconds).",
                labels=label,
            ),
        }
        latest = GaugeMetricFamily(
            "timebase_watchlist_item_latest_bar_timestamp_seconds",
            "Start of the newest stored bar of a watchlist item (Unix seconds).",
            labels=["watchlist", "symbol", "interval"],
        )
        for state in self.runner.states():
            name = state.name
            items.add_metric([name], float(state.items_total))
            done.add_metric([name], float(state.items_done))
            running.add_metric([name], 1.0 if state.running else 0.0)
            for result in RESULTS:
                runs.add_metric([name, result], float(state.results[result]))
            for reason in SKIP_REASONS:
                skips.add_metric([name, reason], float(state.skips[reason]))
            for attribute, family in times.items():
                value = getattr(state, attribute)
                if value is not None:
                    family.add_metric([name], value.timestamp())
            for item in state.items:
                if item.latest_bar is not None:
                    latest.add_metric(
                        [name, item.symbol, item.interval.value], item.latest_bar.timestamp()
                    )
        yield from (items, done, running, runs, skips, *times.values(), latest)
