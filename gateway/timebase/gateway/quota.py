"""Rate-limit quota per provider, counted by the gateway against the manifest's limits.

Every request the gateway sends to a provider counts against its `requests_per_minute` and
`requests_per_day` (UTC day). Counts are persisted in the `provider_quota` table, so a daily
quota survives a restart. A provider that answered RESOURCE_EXHAUSTED with a RetryInfo delay is
blocked until then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from timebase.sdk.manifest import RateLimits
from timebase.store import Store
from timebase.store.pool import Connection

_log = logging.getLogger(__name__)


@dataclass
class QuotaUse:
    day_start: datetime
    day_used: int
    minute_start: datetime
    minute_used: int
    blocked_until: datetime | None = None


@dataclass(frozen=True)
class QuotaStatus:
    """Whether a provider may be called now, how much quota is left (0..1) and, when not, when."""

    available: bool
    remaining: float
    retry_after: float | None
    use: QuotaUse
    reason: str = ""


def _day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


class QuotaTracker:
    def __init__(
        self, store: Store | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self._use: dict[str, QuotaUse] = {}

    async def load(self) -> None:
        """Read the persisted counts (call once the store is started)."""
        if self.store is None:
            return

        def read(conn: Connection) -> list[tuple[object, ...]]:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT provider, day_start, day_used, minute_start, minute_used, "
                    "blocked_until FROM provider_quota"
                )
                return list(cur.fetchall())

        rows = await self.store.pool.run(read, doing="reading provider quotas")
        for provider, day_start, day_used, minute_start, minute_used, blocked in rows:
            self._use[str(provider)] = QuotaUse(
                day_start,  # type: ignore[arg-type]
                int(day_used),  # type: ignore[call-overload]
                minute_start,  # type: ignore[arg-type]
                int(minute_used),  # type: ignore[call-overload]
                blocked,  # type: ignore[arg-type]
            )

    def use(self, slug: str) -> QuotaUse:
        now = self.clock()
        use = self._use.get(slug)
        if use is None:
            use = self._use[slug] = QuotaUse(_day(now), 0, _minute(now), 0)
        if use.day_start != _day(now):
            use.day_start, use.day_used = _day(now), 0
        if use.minute_start != _minute(now):
            use.minute_start, use.minute_used = _minute(now), 0
        if use.blocked_until is not None and use.blocked_until <= now:
            use.blocked_until = None
        return use

    def status(self, slug: str, limits: RateLimits | None) -> QuotaStatus:
        now = self.clock()
        use = self.use(slug)
        if use.blocked_until is not None:
            wait = (use.blocked_until - now).total_seconds()
            return QuotaStatus(False, 0.0, wait, use, f"rate limited for {wait:.0f} s more")
        remaining = 1.0
        per_minute = limits.requests_per_minute if limits else None
        per_day = limits.requests_per_day if limits else None
        if per_day:
            if use.day_used >= per_day:
                wait = (use.day_start + timedelta(days=1) - now).total_seconds()
                return QuotaStatus(
                    False, 0.0, wait, use, f"daily quota of {per_day} requests used up"
                )
            remaining = min(remaining, 1 - use.day_used / per_day)
        if per_minute:
            if use.minute_used >= per_minute:
                wait = (use.minute_start + timedelta(minutes=1) - now).total_seconds()
                return QuotaStatus(
                    False, 0.0, wait, use, f"quota of {per_minute} requests per minute used up"
                )
            remaining = min(remaining, 1 - use.minute_used / per_minute)
        return QuotaStatus(True, remaining, None, use)

    async def consume(self, slug: str, count: int = 1) -> None:
        use = self.use(slug)
        use.day_used += count
        use.minute_used += count
        await self._persist(slug, use)

    async def block(self, slug: str, seconds: float) -> None:
        use = self.use(slug)
        use.blocked_until = self.clock() + timedelta(seconds=max(0.0, seconds))
        await self._persist(slug, use)

    async def _persist(self, slug: str, use: QuotaUse) -> None:
        if self.store is None:
            return
        values = (
            slug,
            use.day_start,
            use.day_used,
            use.minute_start,
            use.minute_used,
            use.blocked_until,
        )

        def write(conn: Connection) -> None:
            with conn.cursor() as cur:
                cur.execute(
                    """INSERT INTO provider_quota AS q (provider, day_start, day_used,
                           minute_start, minute_used, blocked_until, updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, now())
                       ON CONFLICT (provider) DO UPDATE SET
                           day_start = EXCLUDED.day_start, day_used = EXCLUDED.day_used,
                           minute_start = EXCLUDED.minute_start,
                           minute_used = EXCLUDED.minute_used,
                           blocked_until = EXCLUDED.blocked_until, updated_at = now()""",
                    parameters=values,
                )

        try:
            await self.store.pool.run(write, doing="recording provider quota")
        except Exception:  # the count stays in memory; the next write persists it
            _log.warning("could not persist the quota of %s", slug, exc_info=True)
