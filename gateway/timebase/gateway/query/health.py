"""Health as every door reports it: the database (probed at most once per `ttl`, about a
second, however many clients ask) and the providers (as last seen)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.history import HistoricalBars
from timebase.gateway.query.models import Health, HealthStatus

#: How long one database probe answers health checks.
HEALTH_TTL_SECONDS = 1.0


class ProbeCache:
    """The database probe's last answer, reused for `ttl` seconds; concurrent checks share one
    probe."""

    def __init__(
        self,
        probe: DatabaseProbe,
        ttl: float = HEALTH_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.ttl = ttl
        self.monotonic = monotonic
        self._checked: tuple[float, bool] | None = None
        self._lock = asyncio.Lock()
        #: Probes run (for tests).
        self.probes = 0

    async def check(self) -> bool:
        async with self._lock:
            checked = self._checked
            if checked is not None and self.monotonic() - checked[0] < self.ttl:
                return checked[1]
            self.probes += 1
            up = await self.probe.check()
            self._checked = (self.monotonic(), up)
            return up


async def check_health(history: HistoricalBars, probe: DatabaseProbe | ProbeCache) -> Health:
    """Unhealthy without the database; degraded while providers are down; else healthy."""
    database_up = await probe.check()
    if isinstance(probe, ProbeCache):
        probe = probe.probe
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
