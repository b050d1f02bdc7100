"""What the gateway needs to know about providers, whoever runs them.

The supervisor (`timebase.supervisor.Supervisor`) satisfies `ProviderSource`: its `providers()`
returns `ProviderState` snapshots, which satisfy `ProviderView`; `configured_providers(source)`
is every provider it knows, running or only configured. Tests (and remote-only set-ups)
use `StaticProviders`, a fixed list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from timebase.core.user_time import EARLIEST_TIME
from timebase.sdk.intervals import Interval
from timebase.sdk.manifest import DEFAULT_EARLIEST, Manifest


class ProviderView(Protocol):
    """One provider as last seen: identity, where it answers, its manifest and health."""

    @property
    def slug(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def address(self) -> str | None: ...
    @property
    def manifest(self) -> Manifest | None: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def uptime(self) -> float | None: ...
    @property
    def restarts(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def ready(self) -> bool: ...


class ProviderSource(Protocol):
    """Where the current provider snapshots come from (the supervisor)."""

    def providers(self) -> Sequence[ProviderView]: ...


@runtime_checkable
class KnowsConfiguredProviders(Protocol):
    """A source that also knows providers it does not run (the supervisor: discovered in a
    providers directory, disabled, or only named in the configuration)."""

    def configured_slugs(self) -> frozenset[str]: ...


def configured_providers(source: ProviderSource) -> frozenset[str]:
    """Every provider `source` knows, running or only configured: the names whose bars come from
    an add-on (data ownership: a put may not write under them, see `timebase.gateway.ownership`).
    Bars stored under any other name are imported data sets."""
    slugs = {p.slug for p in source.providers()}
    if isinstance(source, KnowsConfiguredProviders):
        slugs |= source.configured_slugs()
    return frozenset(slugs)


@dataclass(frozen=True)
class StaticProvider:
    """A provider at a fixed address (tests, or providers run elsewhere)."""

    slug: str
    address: str | None
    manifest: Manifest | None
    status: str = "ready"
    latency_ms: float | None = None
    uptime: float | None = None
    restarts: int = 0
    last_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready" and self.address is not None


class StaticProviders:
    """A `ProviderSource` over a list that tests can change (`set`, `remove`)."""

    def __init__(self, providers: Sequence[ProviderView] = ()) -> None:
        self._providers: dict[str, ProviderView] = {p.slug: p for p in providers}

    def providers(self) -> Sequence[ProviderView]:
        return list(self._providers.values())

    def set(self, provider: ProviderView) -> None:
        self._providers[provider.slug] = provider

    def remove(self, slug: str) -> None:
        self._providers.pop(slug, None)


def earliest_data(
    views: Iterable[ProviderView],
    symbol: str,
    intervals: Sequence[Interval],
    provider: str | None = None,
) -> datetime:
    """The earliest data (manifests' `earliest`) of the providers serving `symbol` at one of
    `intervals` (the first is the one asked for; `provider`: only that one), never before the
    accepted dates; without such a provider, the default of the interval's class."""
    wanted = {i.value for i in intervals}
    found = [
        view.manifest.earliest_data(interval)
        for view in views
        if view.manifest is not None
        and provider in (None, view.slug)
        and view.manifest.serves_symbol(symbol)
        for interval in wanted & set(view.manifest.intervals)
    ]
    day = DEFAULT_EARLIEST[intervals[0].klass]
    fallback = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return max(EARLIEST_TIME, min(found, default=fallback))
