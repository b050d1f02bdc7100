"""Rate-limit quota per provider, counted by the gateway against the manifest's limits.

Every request the gateway sends to a provider counts against its `requests_per_minute` and
`requests_per_day` (UTC day). Counts are persisted in the `provider_quota` table, so a daily
quota survives a restart and is shared by every gateway on the database: each request adds to the
stored count atomically (an upsert that returns the totals), and the fetcher reads the stored row
(`refresh`) before checking a provider's quota. Gateways that check at the same instant may each
send one request past the limit (at most one per gateway). A provider that answered
RESOURCE_EXHAUSTED with a RetryInfo delay is blocked until then, on every gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from timebase.sdk.errors import DatabaseError
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
        #: Requests counted here that could not be stored yet (added by the next write).
        self._pending: dict[str, int] = {}

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
        """Count `count` requests to `slug` (added to the shared, stored count)."""
        await self.count(slug, count)

    def count(self, slug: str, count: int = 1) -> Coroutine[Any, Any, None]:
        """Count `count` requests to `slug` now, in memory; the coroutine returned adds them to
        the shared, stored count (a fetch runs it while its provider answers: the request is not
        held up by a database write)."""
        use = self.use(slug)
        use.day_used += count
        use.minute_used += count
        return self._persist(slug, count, use.day_start, use.minute_start)

    async def _persist(self, slug: str, count: int, day: datetime, minute: datetime) -> None:
        if self.store is None:
            return
        pending = self._pending.pop(slug, 0) + count
        row = await self._write(slug, _ADD, (slug, day, minute, pending))
        if row is None:  # the count stays in memory; the next write adds it
            self._pending[slug] = pending
        else:
            self._adopt(slug, row)

    async def block(self, slug: str, seconds: float) -> None:
        use = self.use(slug)
        until = self.clock() + timedelta(seconds=max(0.0, seconds))
        use.blocked_until = until
        if self.store is None:
            return
        row = await self._write(slug, _BLOCK, (slug, use.day_start, use.minute_start, until))
        if row is not None:
            self._adopt(slug, row)

    async def refresh(self, slug: str) -> None:
        """Take `slug`'s stored counts (what every gateway sent) as this one's."""
        if self.store is None:
            return

        def read(conn: Connection) -> tuple[object, ...] | None:
            with conn.cursor() as cur:
                cur.execute(f"SELECT {_COLUMNS} FROM provider_quota WHERE provider = $1", (slug,))
                return cur.fetchone()

        try:
            row = await self.store.pool.run(read, doing="reading provider quota")
        except DatabaseError as exc:  # the local counts still apply; the message says why
            _log.warning("could not read the quota of %s: %s", slug, exc)
            return
        except Exception:
            _log.warning("could not read the quota of %s", slug, exc_info=True)
            return
        if row is not None:
            self._adopt(slug, row)

    def _adopt(self, slug: str, row: tuple[object, ...]) -> None:
        day_start, day_used, minute_start, minute_used, blocked = row
        pending = self._pending.get(slug, 0)
        self._use[slug] = QuotaUse(
            day_start,  # type: ignore[arg-type]
            int(day_used) + pending,  # type: ignore[call-overload]
            minute_start,  # type: ignore[arg-type]
            int(minute_used) + pending,  # type: ignore[call-overload]
            blocked,  # type: ignore[arg-type]
        )
        self.use(slug)  # a window that ended since is reset

    async def _write(
        self, slug: str, sql: str, values: tuple[object, ...]
    ) -> tuple[object, ...] | None:
        assert self.store is not None

        def write(conn: Connection) -> tuple[object, ...] | None:
            with conn.cursor() as cur:
                cur.execute(sql, parameters=values)
                return cur.fetchone()

        try:
            return await self.store.pool.run(write, doing="recording provider quota")
        except DatabaseError as exc:  # the database is away: one line each time, no traceback
            _log.warning("could not persist the quota of %s: %s", slug, exc)
            return None
        except Exception:
            _log.warning("could not persist the quota of %s", slug, exc_info=True)
            return None


_COLUMNS = "day_start, day_used, minute_start, minute_used, blocked_until"

#: Add $4 requests to the stored counts of the current day and minute (a stored window that is
#: over starts again; one a gateway with a clock ahead already started is kept).
_ADD = f"""
INSERT INTO provider_quota AS q (provider, day_start, day_used, minute_start, minute_used,
                                 updated_at)
VALUES ($1, $2, $4, $3, $4, now())
ON CONFLICT (provider) DO UPDATE SET
    day_used = CASE WHEN q.day_start >= EXCLUDED.day_start THEN q.day_used + EXCLUDED.day_used
                    ELSE EXCLUDED.day_used END,
    day_start = GREATEST(q.day_start, EXCLUDED.day_start),
    minute_used = CASE WHEN q.minute_start >= EXCLUDED.minute_start
                       THEN q.minute_used + EXCLUDED.minute_used
                       ELSE EXCLUDED.minute_used END,
    minute_start = GREATEST(q.minute_start, EXCLUDED.minute_start),
    updated_at = now()
RETURNING {_COLUMNS}
"""

#: Block the provider until $4 (or the later block another gateway recorded).
_BLOCK = f"""
INSERT INTO provider_quota AS q (provider, day_start, day_used, minute_start, minute_used,
                                 blocked_until, updated_at)
VALUES ($1, $2, 0, $3, 0, $4, now())
ON CONFLICT (provider) DO UPDATE SET
    blocked_until = GREATEST(q.blocked_until, EXCLUDED.blocked_until), updated_at = now()
RETURNING {_COLUMNS}
"""
