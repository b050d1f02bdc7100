"""The router: which providers may serve a (symbol, interval), in which order, and why.

Candidates are the ready providers whose manifest covers the interval (natively, or a finer one
it can be derived from, see `derived_intervals`) and the symbol (the manifest's patterns), minus
those that said NOT_FOUND for the symbol recently (negative cache), whose circuit is open, or that
were disabled after an authentication failure. They are ranked in the agreements' order (§6):

1. user priority from the `routing.priorities` configuration (overrides everything below);
2. native before derived intervals;
3. data freshness: the newest bar of this symbol and interval already stored from the provider,
   judged by the symbol's trading calendar when it has one (`freshness`: up to date when no
   session was open since that bar ended, so Friday's close is as fresh as it gets on Sunday);
4. available rate-limit quota;
5. latency (EWMA of the supervisor's health probes);
6. uptime;
7. cost: free before paid.

The decision and its reasons are logged and returned (GetSymbolProviders shows them).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from timebase.calendars.model import Calendar
from timebase.core.config import RoutingConfig
from timebase.gateway.circuit_breaker import CircuitBreaker
from timebase.gateway.derived_intervals import derivable_from
from timebase.gateway.freshness import Freshness, freshness
from timebase.gateway.providers import ProviderView
from timebase.gateway.quota import QuotaStatus, QuotaTracker
from timebase.sdk.intervals import Interval
from timebase.store.bars import SeriesKey

_log = logging.getLogger(__name__)

_UNRANKED = 1 << 30


@dataclass(frozen=True)
class Candidate:
    """A provider the router would ask, with the facts it was ranked on."""

    slug: str
    provider: ProviderView
    #: The finer interval to fetch and aggregate, or None when the interval is served natively.
    derived_from: Interval | None
    latest: datetime | None
    quota: QuotaStatus
    reasons: tuple[str, ...] = ()
    #: The stored bars' freshness by the symbol's calendar (ranking criterion 3).
    freshness: Freshness | None = None

    @property
    def address(self) -> str:
        assert self.provider.address is not None
        return self.provider.address


class ExclusionReason(enum.Enum):
    """Why a provider is not a candidate (decisions use this, never the message text)."""

    NOT_RUNNING = "not_running"
    DISABLED = "disabled"
    NO_HISTORICAL_DATA = "no_historical_data"
    INTERVAL_NOT_SERVED = "interval_not_served"
    SYMBOL_NOT_MATCHED = "symbol_not_matched"
    SYMBOL_NOT_FOUND_RECENTLY = "symbol_not_found_recently"
    CIRCUIT_OPEN = "circuit_open"

    @property
    def capability_missing(self) -> bool:
        """The provider's manifest does not offer this (interval or symbol): asking it
        explicitly is a bad request, not an outage."""
        return self in (ExclusionReason.INTERVAL_NOT_SERVED, ExclusionReason.SYMBOL_NOT_MATCHED)

    @property
    def about_symbol(self) -> bool:
        """The provider is left out because of the symbol itself."""
        return self in (
            ExclusionReason.SYMBOL_NOT_MATCHED,
            ExclusionReason.SYMBOL_NOT_FOUND_RECENTLY,
        )


@dataclass(frozen=True)
class Exclusion:
    """Why one provider is not a candidate: the reason, and the message shown to people."""

    reason: ExclusionReason
    message: str
    #: The provider's own answer behind the exclusion, when it gave one (the remembered
    #: NOT_FOUND, e.g. "NOT_FOUND: unknown symbol"): a remembered answer is answered the same.
    error: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RouteDecision:
    symbol: str
    interval: Interval
    candidates: tuple[Candidate, ...]
    #: slug → why it is not a candidate.
    exclusions: Mapping[str, Exclusion] = field(default_factory=dict)

    @property
    def excluded(self) -> dict[str, str]:
        """slug → the message saying why it is not a candidate."""
        return {slug: e.message for slug, e in self.exclusions.items()}

    def describe(self) -> str:
        order = ", ".join(
            c.slug + (f" (from {c.derived_from.value})" if c.derived_from else "")
            for c in self.candidates
        )
        return order or "no candidate"


class NegativeCache:
    """(provider, symbol) pairs that answered NOT_FOUND, remembered for `ttl` seconds with the
    provider's answer (so a remembered NOT_FOUND is answered like the first one)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._until: dict[tuple[str, str], tuple[float, str]] = {}

    def add(self, provider: str, symbol: str, answer: str = "NOT_FOUND") -> None:
        self._until[(provider, symbol)] = (self.clock() + self.ttl, answer)

    def contains(self, provider: str, symbol: str) -> bool:
        return self.answer(provider, symbol) is not None

    def answer(self, provider: str, symbol: str) -> str | None:
        """What the provider answered (e.g. "NOT_FOUND: unknown symbol"), while remembered."""
        entry = self._until.get((provider, symbol))
        if entry is None:
            return None
        until, answer = entry
        if until <= self.clock():
            del self._until[(provider, symbol)]
            return None
        return answer

    def forget(self, symbol: str) -> None:
        for key in [k for k in self._until if k[1] == symbol]:
            del self._until[key]


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        quota: QuotaTracker,
        breaker: CircuitBreaker,
        negative: NegativeCache,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        #: "Now" for freshness by the calendar (the gateway's clock).
        self.clock = clock or (lambda: datetime.now(UTC))
        self.quota = quota
        self.breaker = breaker
        self.negative = negative
        #: slug → reason (authentication failed); cleared when the provider restarts.
        self.disabled: dict[str, str] = {}

    def disable(self, slug: str, reason: str) -> None:
        self.disabled[slug] = reason

    def route(
        self,
        symbol: str,
        interval: Interval,
        providers: list[ProviderView],
        latest: Mapping[SeriesKey, datetime],
        *,
        only: str | None = None,
        log: bool = True,
        cal: Calendar | None = None,
        explain: bool = True,
    ) -> RouteDecision:
        """Rank `providers` for (symbol, interval); `only` restricts to one provider; `cal` is
        the symbol's trading calendar (freshness against its sessions; None: continuous).

        `explain=False` leaves each candidate's `reasons` empty unless the decision is logged
        (INFO enabled): formatting them is most of the routing's work on a cached read, and
        only the logs and `GetSymbolProviders` show them. The ranking is the same."""
        now = self.clock()
        log = log and _log.isEnabledFor(logging.INFO)
        explain = explain or log
        excluded: dict[str, Exclusion] = {}
        ranked: list[tuple[tuple[object, ...], Candidate]] = []
        for provider in providers:
            slug = provider.slug
            if only is not None and slug != only:
                continue
            reason = self._exclusion(provider, symbol, interval)
            if reason is not None:
                excluded[slug] = reason
                continue
            manifest = provider.manifest
            assert manifest is not None
            derived = (
                None
                if interval.value in manifest.intervals
                else derivable_from(manifest, symbol, interval)
            )
            fetched = derived or interval
            stored = latest.get(SeriesKey(symbol, fetched.value, slug))
            fresh = freshness(cal, stored, fetched, now)
            quota = self.quota.status(slug, manifest.rate_limits)
            priority = self.config.priorities.get(slug)
            declared = bool(manifest.symbols)
            latency = provider.latency_ms
            uptime = provider.uptime
            reasons = (
                _reasons(
                    priority=priority,
                    derived=derived,
                    declared=declared,
                    fresh=fresh,
                    quota=quota,
                    latency=latency,
                    uptime=uptime,
                    cost=manifest.cost,
                )
                if explain
                else ()
            )
            key = (
                priority if priority is not None else _UNRANKED,
                derived is not None,
                # A provider whose manifest names the symbol's pattern knows it; one that takes
                # any symbol (e.g. local files) is asked after it.
                not declared,
                fresh.rank,
                not quota.available,
                -round(quota.remaining, 1),
                round(latency / 5) if latency is not None else _UNRANKED,
                -round(uptime, 2) if uptime is not None else 0,
                manifest.cost != "free",
                slug,
            )
            candidate = Candidate(slug, provider, derived, stored, quota, reasons, fresh)
            ranked.append((key, candidate))
        ranked.sort(key=lambda item: item[0])
        decision = RouteDecision(symbol, interval, tuple(c for _, c in ranked), excluded)
        if log:
            _log.info(
                "route %s %s: %s",
                symbol,
                interval.value,
                decision.describe(),
                extra={
                    "symbol": symbol,
                    "interval": interval.value,
                    "candidates": [
                        {"slug": c.slug, "reasons": list(c.reasons)} for c in decision.candidates
                    ],
                    "excluded": decision.excluded,
                },
            )
        return decision

    def _exclusion(
        self, provider: ProviderView, symbol: str, interval: Interval
    ) -> Exclusion | None:
        manifest = provider.manifest
        if not provider.ready or provider.address is None or manifest is None:
            status = provider.status
            error = f": {provider.last_error}" if provider.last_error else ""
            return Exclusion(ExclusionReason.NOT_RUNNING, f"not running ({status}{error})")
        if provider.slug in self.disabled:
            return Exclusion(ExclusionReason.DISABLED, f"disabled: {self.disabled[provider.slug]}")
        if not manifest.capabilities.historical_data:
            return Exclusion(ExclusionReason.NO_HISTORICAL_DATA, "serves no historical data")
        if interval.value not in manifest.intervals:
            base = derivable_from(manifest, symbol, interval)
            if base is None or base.value not in manifest.intervals:
                return Exclusion(
                    ExclusionReason.INTERVAL_NOT_SERVED,
                    f"does not serve {interval.value}"
                    + (f" nor {base.value} to derive it from" if base else ""),
                )
        if not manifest.serves_symbol(symbol):
            patterns = ", ".join(p.pattern for p in manifest.symbols)
            return Exclusion(
                ExclusionReason.SYMBOL_NOT_MATCHED,
                f"symbol does not match its patterns ({patterns})",
            )
        answer = self.negative.answer(provider.slug, symbol)
        if answer is not None:
            return Exclusion(
                ExclusionReason.SYMBOL_NOT_FOUND_RECENTLY,
                "answered NOT_FOUND for this symbol recently",
                error=answer,
            )
        if not self.breaker.allows(provider.slug):
            return Exclusion(
                ExclusionReason.CIRCUIT_OPEN,
                f"circuit open (next try in {self.breaker.retry_in(provider.slug):.0f} s)",
            )
        return None


def _reasons(
    *,
    priority: int | None,
    derived: Interval | None,
    declared: bool,
    fresh: Freshness,
    quota: QuotaStatus,
    latency: float | None,
    uptime: float | None,
    cost: str,
) -> tuple[str, ...]:
    """A candidate's ranking facts in ranking order, as people read them."""
    reasons: list[str] = []
    if priority is not None:
        reasons.append(f"priority {priority} (configured)")
    reasons.append(f"derived from {derived.value}" if derived else "native interval")
    reasons.append("declares the symbol" if declared else "accepts any symbol")
    reasons.append(fresh.reason)
    reasons.append(f"quota {quota.remaining:.0%} left" if quota.available else quota.reason)
    reasons.append(f"latency {latency:.1f} ms" if latency is not None else "latency unknown")
    reasons.append(f"uptime {uptime:.0%}" if uptime is not None else "uptime unknown")
    reasons.append(f"cost {cost}")
    return tuple(reasons)
