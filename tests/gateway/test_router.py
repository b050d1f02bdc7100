"""The router without a database: exclusions, each ranking criterion in turn, and the reasons.

Every provider is a `StaticProvider` with a hand-written manifest; the clocks are injected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.calendars import shared_calendars
from timebase.core.config import RoutingConfig
from timebase.gateway.circuit_breaker import CircuitBreaker
from timebase.gateway.providers import ProviderView, StaticProvider
from timebase.gateway.quota import QuotaTracker
from timebase.gateway.router import ExclusionReason, NegativeCache, RouteDecision, Router
from timebase.sdk.intervals import Interval
from timebase.sdk.manifest import Capabilities, Manifest, RateLimits
from timebase.store.bars import SeriesKey

NOW = datetime(2024, 3, 4, 12, 30, 15, tzinfo=UTC)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def manifest(
    slug: str,
    intervals: tuple[str, ...] = ("1d",),
    *,
    symbols: tuple[str, ...] = (),
    historical: bool = True,
    per_minute: int | None = None,
    cost: str = "free",
) -> Manifest:
    return Manifest(
        name=slug.title(),
        version="1.0.0",
        slug=slug,
        intervals=intervals,
        capabilities=Capabilities(historical_data=historical),
        symbols=tuple(re.compile(p) for p in symbols),
        rate_limits=RateLimits(requests_per_minute=per_minute),
        cost=cost,
    )


def provider(
    slug: str,
    intervals: tuple[str, ...] = ("1d",),
    *,
    latency_ms: float | None = None,
    uptime: float | None = None,
    status: str = "ready",
    last_error: str | None = None,
    **kwargs: object,
) -> StaticProvider:
    return StaticProvider(
        slug=slug,
        address=f"{slug}:50051",
        manifest=manifest(slug, intervals, **kwargs),  # type: ignore[arg-type]
        status=status,
        latency_ms=latency_ms,
        uptime=uptime,
        last_error=last_error,
    )


class Parts:
    def __init__(self, priorities: dict[str, int] | None = None) -> None:
        self.clock = Clock()
        self.quota = QuotaTracker(clock=lambda: NOW)
        self.breaker = CircuitBreaker(failure_threshold=2, reset_after=30.0, clock=self.clock)
        self.negative = NegativeCache(ttl=60.0, clock=self.clock)
        self.router = Router(
            RoutingConfig(priorities=priorities or {}), self.quota, self.breaker, self.negative
        )

    def route(
        self,
        symbol: str,
        interval: Interval,
        providers: Sequence[StaticProvider],
        latest: Mapping[SeriesKey, datetime],
        **kwargs: Any,
    ) -> RouteDecision:
        views: list[ProviderView] = [*providers]
        return self.router.route(symbol, interval, views, latest, **kwargs)

    def order(
        self,
        providers: list[StaticProvider],
        interval: Interval = Interval.D1,
        latest: dict[SeriesKey, datetime] | None = None,
        symbol: str = "AAPL",
    ) -> list[str]:
        decision = self.route(symbol, interval, providers, latest or {}, log=False)
        return [c.slug for c in decision.candidates]


# -- exclusions ---------------------------------------------------------------------------------


def test_every_exclusion_reason_is_named() -> None:
    parts = Parts()
    parts.negative.add("gone", "AAPL")
    parts.breaker.failure("broken")
    parts.breaker.failure("broken")
    parts.clock.now += 12.4
    parts.router.disable("locked", "authentication failed")
    providers = [
        provider("stopped", status="crashed", last_error="exit 1"),
        provider("starting", status="starting"),
        StaticProvider("noaddr", None, manifest("noaddr")),
        StaticProvider("nomanifest", "x:1", None),
        provider("locked"),
        provider("stream", historical=False),
        provider("minutes", ("1m",)),
        provider("hourly", ("1h",)),
        provider("fx", symbols=("EUR.*", "USD.*")),
        provider("gone"),
        provider("broken"),
        provider("ok"),
    ]
    decision = parts.route("AAPL", Interval.D1, providers, {}, log=False)
    assert [c.slug for c in decision.candidates] == ["ok"]
    assert dict(decision.excluded) == {
        "stopped": "not running (crashed: exit 1)",
        "starting": "not running (starting)",
        "noaddr": "not running (ready)",
        "nomanifest": "not running (ready)",
        "locked": "disabled: authentication failed",
        "stream": "serves no historical data",
        "minutes": "does not serve 1d",
        "hourly": "does not serve 1d",
        "fx": "symbol does not match its patterns (EUR.*, USD.*)",
        "gone": "answered NOT_FOUND for this symbol recently",
        "broken": "circuit open (next try in 18 s)",
    }
    reasons = {slug: e.reason for slug, e in decision.exclusions.items()}
    assert reasons == {
        "stopped": ExclusionReason.NOT_RUNNING,
        "starting": ExclusionReason.NOT_RUNNING,
        "noaddr": ExclusionReason.NOT_RUNNING,
        "nomanifest": ExclusionReason.NOT_RUNNING,
        "locked": ExclusionReason.DISABLED,
        "stream": ExclusionReason.NO_HISTORICAL_DATA,
        "minutes": ExclusionReason.INTERVAL_NOT_SERVED,
        "hourly": ExclusionReason.INTERVAL_NOT_SERVED,
        "fx": ExclusionReason.SYMBOL_NOT_MATCHED,
        "gone": ExclusionReason.SYMBOL_NOT_FOUND_RECENTLY,
        "broken": ExclusionReason.CIRCUIT_OPEN,
    }


def test_a_derivable_interval_missing_its_base_names_both() -> None:
    parts = Parts()
    decision = parts.route("AAPL", Interval.H4, [provider("daily", ("1d",))], {}, log=False)
    assert decision.candidates == ()
    assert dict(decision.excluded) == {"daily": "does not serve 4h nor 1h to derive it from"}


def test_only_restricts_to_one_provider_without_excluding_the_others() -> None:
    parts = Parts()
    providers = [provider("a"), provider("b"), provider("c", status="crashed")]
    decision = parts.route("AAPL", Interval.D1, providers, {}, only="b", log=False)
    assert [c.slug for c in decision.candidates] == ["b"]
    assert dict(decision.excluded) == {}
    decision = parts.route("AAPL", Interval.D1, providers, {}, only="c", log=False)
    assert decision.candidates == ()
    assert dict(decision.excluded) == {"c": "not running (crashed)"}


def test_a_half_open_circuit_is_a_candidate_again() -> None:
    parts = Parts()
    parts.breaker.failure("a")
    parts.breaker.failure("a")
    assert parts.order([provider("a")]) == []
    parts.clock.now += 30.0
    assert parts.order([provider("a")]) == ["a"]


def test_negative_cache_expires_after_its_ttl_and_forgets_per_symbol() -> None:
    clock = Clock()
    cache = NegativeCache(ttl=60.0, clock=clock)
    cache.add("a", "AAPL")
    cache.add("b", "AAPL")
    cache.add("a", "MSFT")
    clock.now += 59.9
    assert cache.contains("a", "AAPL")
    assert not cache.contains("a", "TSLA")
    cache.forget("AAPL")
    assert not cache.contains("a", "AAPL")
    assert not cache.contains("b", "AAPL")
    assert cache.contains("a", "MSFT")
    clock.now += 0.1
    assert not cache.contains("a", "MSFT")
    assert cache._until == {}


# -- ranking, one criterion at a time -----------------------------------------------------------


def test_configured_priority_overrides_every_other_criterion() -> None:
    parts = Parts(priorities={"slow": 1, "derived": 2})
    latest = {
        SeriesKey("AAPL", "1d", "fast"): NOW,
        SeriesKey("AAPL", "4h", "fast"): NOW,
    }
    providers = [
        provider("fast", ("1d", "4h"), latency_ms=1.0, uptime=1.0),
        provider("derived", ("1h",), latency_ms=1.0),
        provider("slow", ("1h", "1d"), latency_ms=900.0, uptime=0.1, cost="paid"),
    ]
    assert parts.order(providers, Interval.H4, latest) == ["slow", "derived", "fast"]
    assert parts.order(providers, Interval.D1, latest) == ["slow", "fast"]


def test_native_interval_before_derived() -> None:
    parts = Parts()
    providers = [provider("a", ("1m",), latency_ms=1.0), provider("b", ("5m",), latency_ms=500.0)]
    decision = parts.route("AAPL", Interval.M5, providers, {}, log=False)
    assert [(c.slug, c.derived_from) for c in decision.candidates] == [
        ("b", None),
        ("a", Interval.M1),
    ]
    assert decision.describe() == "b, a (from 1m)"


def test_a_provider_declaring_the_symbol_before_one_accepting_any() -> None:
    parts = Parts()
    providers = [provider("any", latency_ms=1.0), provider("stocks", symbols=("[A-Z]+",))]
    assert parts.order(providers) == ["stocks", "any"]


def test_fresher_stored_bars_first_and_stored_before_none() -> None:
    parts = Parts()
    latest = {
        SeriesKey("AAPL", "1d", "old"): datetime(2024, 1, 1, tzinfo=UTC),
        SeriesKey("AAPL", "1d", "new"): datetime(2024, 3, 1, tzinfo=UTC),
        SeriesKey("MSFT", "1d", "none"): datetime(2024, 3, 4, tzinfo=UTC),
        SeriesKey("AAPL", "1wk", "none"): datetime(2024, 3, 4, tzinfo=UTC),
    }
    providers = [provider("none", ("1d", "1wk")), provider("old"), provider("new")]
    assert parts.order(providers, latest=latest) == ["new", "old", "none"]


def test_freshness_of_a_derived_interval_is_read_from_its_base() -> None:
    parts = Parts()
    latest = {
        SeriesKey("AAPL", "1h", "b"): datetime(2024, 3, 1, tzinfo=UTC),
        SeriesKey("AAPL", "4h", "a"): datetime(2024, 3, 3, tzinfo=UTC),
    }
    decision = parts.route(
        "AAPL", Interval.H4, [provider("a", ("1h",)), provider("b", ("1h",))], latest, log=False
    )
    assert [(c.slug, c.latest) for c in decision.candidates] == [
        ("b", datetime(2024, 3, 1, tzinfo=UTC)),
        ("a", None),
    ]


async def test_quota_left_then_latency_then_uptime_then_cost_then_slug() -> None:
    parts = Parts()
    # Quota: 'tight' has used 5 of 10 requests this minute, 'used' all of its 2.
    # (Slugs sort against the expected order, so the slug tie-break cannot pass these.)
    await parts.quota.consume("b-tight", 5)
    await parts.quota.consume("a-used", 2)
    providers = [
        provider("a-used", per_minute=2, latency_ms=1.0),
        provider("b-tight", per_minute=10, latency_ms=1.0),
        provider("c-roomy", per_minute=10, latency_ms=400.0),
    ]
    assert parts.order(providers) == ["c-roomy", "b-tight", "a-used"]
    # Same quota: lower latency first (in 5 ms steps), unknown latency last.
    providers = [
        provider("a-unknown"),
        provider("b-slow", latency_ms=20.0),
        provider("c-fast", latency_ms=12.0),
    ]
    assert parts.order(providers) == ["c-fast", "b-slow", "a-unknown"]
    # Same latency step (11 and 12 ms round to 2): higher uptime first, unknown like 0.
    providers = [
        provider("b-low", latency_ms=11.0, uptime=0.5),
        provider("a-none", latency_ms=12.0),
        provider("c-high", latency_ms=12.0, uptime=0.99),
    ]
    assert parts.order(providers) == ["c-high", "b-low", "a-none"]
    # Latency steps are 5 ms wide: 12 ms (2.4) and 13 ms (2.6) fall in different steps, so the
    # better uptime of the slower one does not count.
    providers = [
        provider("a-13ms", latency_ms=13.0, uptime=1.0),
        provider("b-12ms", latency_ms=12.0),
    ]
    assert parts.order(providers) == ["b-12ms", "a-13ms"]
    # Uptime is compared in hundredths: 99.1% and 99.4% tie (then the slug decides).
    providers = [provider("b-994", uptime=0.994), provider("a-991", uptime=0.991)]
    assert parts.order(providers) == ["a-991", "b-994"]
    # An unknown uptime counts as 0%: it ties with a provider known to be always down.
    providers = [provider("b-zero", uptime=0.0), provider("a-unknown")]
    assert parts.order(providers) == ["a-unknown", "b-zero"]
    # Everything else equal: free before paid, then the slug.
    providers = [provider("c", cost="paid"), provider("b"), provider("a", cost="paid")]
    assert parts.order(providers) == ["b", "a", "c"]


def test_quota_remaining_is_compared_in_tenths() -> None:
    parts = Parts()
    parts.quota.use("a").minute_used = 1  # 99% left
    parts.quota.use("b").minute_used = 4  # 96% left: both round to 1.0
    parts.quota.use("c").minute_used = 16  # 84% left: 0.8
    providers = [
        provider("c", per_minute=100, latency_ms=1.0),
        provider("b", per_minute=100, latency_ms=1.0),
        provider("a", per_minute=100, latency_ms=20.0),
    ]
    assert parts.order(providers) == ["b", "a", "c"]


def test_freshness_outranks_quota_latency_and_cost() -> None:
    parts = Parts()
    latest = {SeriesKey("AAPL", "1d", "stale"): datetime(2024, 3, 1, tzinfo=UTC)}
    providers = [provider("quick", latency_ms=1.0, uptime=1.0), provider("stale", cost="paid")]
    assert parts.order(providers, latest=latest) == ["stale", "quick"]


# -- freshness by the trading calendar ----------------------------------------------------------


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """February 2024 (Fri 16, the weekend, Presidents' Day Mon 19, Tue 20), UTC."""
    return datetime(2024, 2, day, hour, minute, tzinfo=UTC)


def calendar_parts(now: datetime) -> Parts:
    parts = Parts()
    parts.router.clock = lambda: now
    return parts


async def test_fridays_close_is_as_fresh_as_post_market_bars_on_sunday() -> None:
    xnys = await shared_calendars().get("XNYS")
    latest = {
        # 'post' stored Friday's post-market bars too; 'regular' ends with the 20:30 bar
        # (15:30 New York, the session's last).
        SeriesKey("AAPL", "1h", "post"): at(16, 23),
        SeriesKey("AAPL", "1h", "regular"): at(16, 20, 30),
    }
    providers = [
        provider("post", ("1h",), latency_ms=40.0),
        provider("regular", ("1h",), latency_ms=5.0),
    ]
    sunday = calendar_parts(at(18, 12))
    decision = sunday.route("AAPL", Interval.H1, providers, latest, log=False, cal=xnys)
    # Both are up to date by the calendar: latency decides.
    assert [c.slug for c in decision.candidates] == ["regular", "post"]
    assert decision.candidates[0].reasons[2] == (
        "latest stored bar 2024-02-16T20:30:00+00:00, up to date by XNYS"
    )
    # Tuesday before the open (Monday was a holiday): still up to date.
    tuesday = calendar_parts(at(20, 14))
    assert tuesday.order(providers, Interval.H1, latest) == ["post", "regular"]  # no calendar
    decision = tuesday.route("AAPL", Interval.H1, providers, latest, log=False, cal=xnys)
    assert [c.slug for c in decision.candidates] == ["regular", "post"]


async def test_stale_means_an_open_session_is_missing_and_the_later_gap_ranks_first() -> None:
    xnys = await shared_calendars().get("XNYS")
    latest = {
        SeriesKey("AAPL", "1h", "complete"): at(16, 20, 30),
        SeriesKey("AAPL", "1h", "short"): at(16, 19, 30),  # Friday's last bar missing
        SeriesKey("AAPL", "1h", "thursday"): at(15, 23),  # all of Friday missing
    }
    providers = [
        provider("thursday", ("1h",), latency_ms=1.0),
        provider("short", ("1h",), latency_ms=2.0),
        provider("complete", ("1h",), latency_ms=90.0),
    ]
    sunday = calendar_parts(at(18, 12))
    decision = sunday.route("AAPL", Interval.H1, providers, latest, log=False, cal=xnys)
    assert [(c.slug, c.reasons[2]) for c in decision.candidates] == [
        ("complete", "latest stored bar 2024-02-16T20:30:00+00:00, up to date by XNYS"),
        (
            "short",
            "latest stored bar 2024-02-16T19:30:00+00:00, behind since "
            "2024-02-16T20:30:00+00:00 by XNYS",
        ),
        (
            "thursday",
            "latest stored bar 2024-02-15T23:00:00+00:00, behind since "
            "2024-02-16T14:30:00+00:00 by XNYS",
        ),
    ]
    fresh = decision.candidates[1].freshness
    assert fresh is not None
    assert fresh.behind_since == at(16, 20, 30)


async def test_daily_bars_are_fresh_until_the_next_session_opens() -> None:
    xnys = await shared_calendars().get("XNYS")
    latest = {
        SeriesKey("AAPL", "1d", "friday"): at(16, 0),
        SeriesKey("AAPL", "1d", "thursday"): at(15, 0),
    }
    providers = [provider("thursday", latency_ms=1.0), provider("friday", latency_ms=9.0)]
    # Tuesday 10:00 UTC: Tuesday's session opens at 14:30, so its daily bar is not due yet.
    early = calendar_parts(at(20, 10)).route(
        "AAPL", Interval.D1, providers, latest, log=False, cal=xnys
    )
    assert [(c.slug, c.freshness and c.freshness.behind_since) for c in early.candidates] == [
        ("friday", None),
        ("thursday", at(16, 14, 30)),
    ]
    # Once it opened, both miss it; the one missing less (from a later open) ranks first.
    late = calendar_parts(at(20, 15)).route(
        "AAPL", Interval.D1, providers, latest, log=False, cal=xnys
    )
    assert [(c.slug, c.freshness and c.freshness.behind_since) for c in late.candidates] == [
        ("friday", at(20, 14, 30)),
        ("thursday", at(16, 14, 30)),
    ]


# -- what the decision says ---------------------------------------------------------------------


async def test_candidates_carry_their_reasons_in_ranking_order() -> None:
    parts = Parts(priorities={"b": 3})
    await parts.quota.consume("a", 1)
    await parts.quota.consume("b", 4)
    latest = {SeriesKey("AAPL", "1h", "a"): datetime(2024, 3, 4, 10, tzinfo=UTC)}
    providers = [
        provider("a", ("1h",), per_minute=4, latency_ms=12.34, uptime=0.987, cost="paid"),
        provider("b", ("4h",), symbols=("AAPL",), per_minute=4),
    ]
    decision = parts.route("AAPL", Interval.H4, providers, latest, log=False)
    b, a = decision.candidates
    assert b.reasons == (
        "priority 3 (configured)",
        "native interval",
        "declares the symbol",
        "no stored bars",
        "quota of 4 requests per minute used up",
        "latency unknown",
        "uptime unknown",
        "cost free",
    )
    assert a.reasons == (
        "derived from 1h",
        "accepts any symbol",
        "latest stored bar 2024-03-04T10:00:00+00:00",
        "quota 75% left",
        "latency 12.3 ms",
        "uptime 99%",
        "cost paid",
    )
    assert (a.derived_from, a.latest, a.address) == (
        Interval.H1,
        datetime(2024, 3, 4, 10, tzinfo=UTC),
        "a:50051",
    )
    assert (a.quota.available, a.quota.remaining) == (True, 0.75)
    assert (b.quota.available, b.quota.retry_after) == (False, 45.0)
    assert decision.symbol == "AAPL"
    assert decision.interval is Interval.H4
    assert decision.describe() == "b, a (from 1h)"


def test_no_candidate_is_described_as_such() -> None:
    decision = Parts().route("AAPL", Interval.D1, [], {}, log=False)
    assert decision.describe() == "no candidate"
    assert dict(decision.excluded) == {}


def test_the_decision_is_logged_with_its_facts(caplog: pytest.LogCaptureFixture) -> None:
    parts = Parts()
    providers = [provider("a"), provider("b", status="stopped")]
    with caplog.at_level(logging.INFO, logger="timebase.gateway.router"):
        parts.route("AAPL", Interval.D1, providers, {})
        parts.route("AAPL", Interval.D1, providers, {}, log=False)
    (record,) = [r for r in caplog.records if r.name == "timebase.gateway.router"]
    assert record.getMessage() == "route AAPL 1d: a"
    assert record.__dict__["symbol"] == "AAPL"
    assert record.__dict__["interval"] == "1d"
    assert record.__dict__["candidates"] == [
        {
            "slug": "a",
            "reasons": [
                "native interval",
                "accepts any symbol",
                "no stored bars",
                "quota 100% left",
                "latency unknown",
                "uptime unknown",
                "cost free",
            ],
        }
    ]
    assert record.__dict__["excluded"] == {"b": "not running (stopped)"}


async def test_a_decision_without_reasons_ranks_the_same(caplog: pytest.LogCaptureFixture) -> None:
    """`explain=False` (the read path) leaves the reasons out, not the ranking; a decision that
    is logged (INFO on) still carries them."""
    parts = Parts(priorities={"b": 3})
    await parts.quota.consume("a", 1)
    latest = {SeriesKey("AAPL", "1h", "a"): datetime(2024, 3, 4, 10, tzinfo=UTC)}
    providers = [
        provider("a", ("1h",), per_minute=4, latency_ms=12.34, uptime=0.987, cost="paid"),
        provider("b", ("4h",), symbols=("AAPL",), per_minute=4),
        provider("c", ("4h",)),
        provider("gone", status="stopped"),
    ]
    explained = parts.route("AAPL", Interval.H4, providers, latest, log=False)
    caplog.set_level(logging.WARNING, logger="timebase.gateway.router")
    quiet = parts.route("AAPL", Interval.H4, providers, latest, explain=False)
    assert [c.slug for c in quiet.candidates] == ["b", "c", "a"]
    assert [c.slug for c in explained.candidates] == ["b", "c", "a"]
    assert [c.reasons for c in quiet.candidates] == [(), (), ()]
    assert [(c.derived_from, c.latest, c.quota) for c in quiet.candidates] == [
        (c.derived_from, c.latest, c.quota) for c in explained.candidates
    ]
    assert quiet.excluded == {"gone": "not running (stopped)"}
    assert not caplog.records
    caplog.set_level(logging.INFO, logger="timebase.gateway.router")
    logged = parts.route("AAPL", Interval.H4, providers, latest, explain=False)
    assert [c.reasons for c in logged.candidates] == [c.reasons for c in explained.candidates]
    (record,) = [r for r in caplog.records if r.name == "timebase.gateway.router"]
    assert record.__dict__["candidates"][0]["reasons"][0] == "priority 3 (configured)"
