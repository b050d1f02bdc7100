"""Providers as the doors show them: the listing (running and stored-only providers), one
provider, and symbol discovery (how the router ranks providers for a symbol)."""

from __future__ import annotations

from timebase.gateway.bar_request import check_provider, check_symbol
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import ProviderView
from timebase.gateway.query.models import (
    ExcludedProvider,
    ProviderInfo,
    QuotaInfo,
    RankedProvider,
    SymbolProviders,
)
from timebase.repos.git import shown_url
from timebase.sdk.errors import ProviderNotFound
from timebase.sdk.intervals import Interval


def provider_info(history: HistoricalBars, view: ProviderView) -> ProviderInfo:
    """A supervised provider: its manifest, health, circuit and quota."""
    disabled = history.router.disabled
    manifest = view.manifest
    quota: QuotaInfo | None = None
    if manifest is not None:
        limits = manifest.rate_limits
        use = history.quota.use(view.slug)
        quota = QuotaInfo(
            requests_per_minute_limit=limits.requests_per_minute,
            requests_per_day_limit=limits.requests_per_day,
            requests_this_minute=use.minute_used,
            requests_today=use.day_used,
            blocked_until=use.blocked_until,
        )
    return ProviderInfo(
        slug=view.slug,
        status="disabled" if view.slug in disabled else str(view.status),
        name=manifest.name if manifest else None,
        version=manifest.version if manifest else None,
        address=view.address,
        latency_ms=view.latency_ms,
        uptime=view.uptime,
        restarts=view.restarts,
        last_error=view.last_error or disabled.get(view.slug),
        circuit=history.breaker.state(view.slug),
        intervals=tuple(manifest.intervals) if manifest else (),
        symbol_patterns=tuple(p.pattern for p in manifest.symbols) if manifest else (),
        supports_historical=bool(manifest and manifest.capabilities.historical_data),
        supports_realtime=bool(manifest and manifest.capabilities.real_time_streaming),
        cost=manifest.cost if manifest else None,
        quota=quota,
        repository=_shown(getattr(view, "repository", None)),
        commit=getattr(view, "commit", None),
    )


def stored_provider(slug: str) -> ProviderInfo:
    """A provider no add-on runs under, known only from its stored bars (e.g. imported)."""
    return ProviderInfo(slug=slug, status="stored", supports_historical=True)


async def list_providers(history: HistoricalBars) -> list[ProviderInfo]:
    """Every running provider (supervisor order), then stored-only ones (sorted by slug)."""
    running = history.providers()
    out = [provider_info(history, view) for view in running]
    known = {v.slug for v in running}
    stored = sorted({d.provider for d in await history.store.datasets()} - known)
    out += [stored_provider(slug) for slug in stored]
    return out


async def get_provider(history: HistoricalBars, slug: str, field: str = "slug") -> ProviderInfo:
    """One provider of the listing, or ProviderNotFound naming the known ones."""
    checked = check_provider(slug, field) or ""
    listing = await list_providers(history)
    found = next((p for p in listing if p.slug == checked), None)
    if found is None:
        known = ", ".join(p.slug for p in listing) or "none"
        raise ProviderNotFound(
            f"{field}: unknown provider {checked!r} (providers: {known})", provider=checked
        )
    return found


def current_info(history: HistoricalBars, slug: str, fallback: ProviderView) -> ProviderInfo:
    """The provider `slug` as now listed (`fallback` when it is no longer supervised)."""
    view = next((v for v in history.providers() if v.slug == slug), fallback)
    return provider_info(history, view)


async def symbol_providers(
    history: HistoricalBars, symbol: str, interval: Interval
) -> SymbolProviders:
    """How the router would rank providers for (symbol, interval) now."""
    checked = check_symbol(symbol)
    decision = await history.rank(checked, interval)
    return SymbolProviders(
        symbol=checked,
        interval=interval.value,
        candidates=tuple(
            RankedProvider(
                slug=c.slug,
                rank=rank,
                derived_from=c.derived_from.value if c.derived_from else None,
                latest_stored=c.latest,
                reasons=tuple(c.reasons),
            )
            for rank, c in enumerate(decision.candidates, start=1)
        ),
        excluded=tuple(
            ExcludedProvider(slug, reason) for slug, reason in sorted(decision.excluded.items())
        ),
    )


def _shown(url: str | None) -> str | None:
    return shown_url(url) if url else url
