"""Health as every door reports it: the database (probed now) and the providers."""

from __future__ import annotations

from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.history import HistoricalBars
from timebase.gateway.query.models import Health, HealthStatus


async def check_health(history: HistoricalBars, probe: DatabaseProbe) -> Health:
    """Unhealthy without the database; degraded while providers are down; else healthy."""
    database_up = await probe.check()
    providers = history.providers()
    ready = [p.slug for p in providers if p.ready]
    down = tuple(sorted(p.slug for p in providers if not p.ready))
    if not database_up:
        status = HealthStatus.UNHEALTHY
        message = "the database is unreachable" + (
            f": {probe.last_error}" if probe.last_error else ""
        )
    elif providers and not ready:
        status, message = HealthStatus.DEGRADED, "no provider is running: serving stored bars only"
    elif down:
        status, message = HealthStatus.DEGRADED, f"providers down: {', '.join(down)}"
    else:
        status, message = HealthStatus.HEALTHY, "ok"
    return Health(
        status=status,
        message=message,
        database_up=database_up,
        database_error=probe.last_error,
        providers_ready=len(ready),
        providers_total=len(providers),
        providers_down=down,
    )
