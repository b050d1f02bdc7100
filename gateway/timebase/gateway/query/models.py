"""What the query API answers: plain dataclasses, rendered by each door (gRPC messages, JSON)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class QuotaInfo:
    """A provider's manifest limits and what was used of them."""

    requests_per_minute_limit: int | None
    requests_per_day_limit: int | None
    requests_this_minute: int
    requests_today: int
    blocked_until: datetime | None


@dataclass(frozen=True)
class ProviderInfo:
    """One provider as the doors list it: running (supervised) or only `stored` bars."""

    slug: str
    status: str
    name: str | None = None
    version: str | None = None
    address: str | None = None
    latency_ms: float | None = None
    uptime: float | None = None
    restarts: int = 0
    last_error: str | None = None
    circuit: str = "closed"
    intervals: tuple[str, ...] = ()
    symbol_patterns: tuple[str, ...] = ()
    supports_historical: bool = False
    supports_realtime: bool = False
    cost: str | None = None
    #: None for providers without a manifest (e.g. only stored bars).
    quota: QuotaInfo | None = None
    #: The Git repository it was installed from and the commit it runs (None otherwise).
    repository: str | None = None
    commit: str | None = None


@dataclass(frozen=True)
class RankedProvider:
    """A provider that would be asked for (symbol, interval), best first (`rank` 1)."""

    slug: str
    rank: int
    derived_from: str | None
    latest_stored: datetime | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ExcludedProvider:
    slug: str
    reason: str


@dataclass(frozen=True)
class SymbolProviders:
    """Symbol discovery: how the router ranks the providers for (symbol, interval) now."""

    symbol: str
    interval: str
    candidates: tuple[RankedProvider, ...]
    excluded: tuple[ExcludedProvider, ...]


class HealthStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class Health:
    """The database and the providers: healthy, degraded (providers down) or unhealthy (no
    database)."""

    status: HealthStatus
    message: str
    database_up: bool
    database_error: str | None
    providers_ready: int
    providers_total: int
    #: Slugs of the providers not ready, sorted.
    providers_down: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Invalidated:
    """What InvalidateRange removed: bars deleted, the providers whose series were cleared, and
    the imported data sets it kept (no provider named: only configured providers are cleared)."""

    deleted: int
    providers: tuple[str, ...]
    kept: tuple[str, ...] = ()
