"""The embedded PostgreSQL's watchdog: a crashed server is restarted, a few times at most.

    supervisor = EmbeddedSupervisor(server, pool, RestartPolicy(...), on_exhausted=give_up)
    await supervisor.start()   # checks `server.alive()` every `check_interval` seconds
    ...
    await supervisor.stop()

When the postmaster is found dead, the pool is suspended at once (every request gets a
`DatabaseError` with `retry_after`: 503 with Retry-After at the doors, instead of waiting for a
connection that cannot come), the server is restarted after an exponential backoff
(`backoff_base * 2**(n-1)` seconds, at most `backoff_max`), and the pool resumes with fresh
connections. More than `max_restarts` restarts within `window` seconds, or a crash with
`max_restarts` 0, and the supervisor gives up: it logs why and calls `on_exhausted(reason)`
(`timebase serve` then stops and exits with code 3, so a service manager can act). The pool stays
suspended with that reason.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from timebase.sdk.backoff import Backoff
from timebase.sdk.errors import DatabaseError
from timebase.sdk.tasks import cancel_and_wait
from timebase.store.embedded import EmbeddedPostgres
from timebase.store.pool import ConnectionPool

_log = logging.getLogger(__name__)

#: About how long the server takes to start (crash recovery included): part of `retry_after`.
START_ESTIMATE_SECONDS = 3.0


@dataclass(frozen=True)
class RestartPolicy:
    """How the embedded server is watched and restarted (`database.embedded_*` keys)."""

    max_restarts: int = 5
    window: float = 300.0
    check_interval: float = 1.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Delay before restart number `attempt` (1-based) within the window."""
        return Backoff(self.backoff_base, maximum=self.backoff_max, jitter=0.0).ceiling(attempt)


class EmbeddedSupervisor:
    """Watches one `EmbeddedPostgres` and restarts it when it dies (see the module docstring)."""

    def __init__(
        self,
        server: EmbeddedPostgres,
        pool: ConnectionPool,
        policy: RestartPolicy | None = None,
        *,
        on_exhausted: Callable[[str], None] | None = None,
    ) -> None:
        self.server = server
        self.pool = pool
        self.policy = policy or RestartPolicy()
        self._on_exhausted = on_exhausted
        self._task: asyncio.Task[None] | None = None
        #: Restarts done so far (successful ones).
        self.restarts = 0
        #: Seconds from noticing the crash to the server accepting connections, per restart.
        self.recovery_seconds: list[float] = []
        #: Why the supervisor gave up (None while it has not).
        self.gave_up: str | None = None
        self._recent: collections.deque[float] = collections.deque()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="embedded-postgres-supervisor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.policy.check_interval)
            if await self.server.alive():
                continue
            if not await self._recover():
                return

    async def _recover(self) -> bool:
        """Restart the dead server; False when the restarts are exhausted (gave up)."""
        noticed = time.monotonic()
        pid = self.server.postmaster_pid
        while True:
            now = time.monotonic()
            while self._recent and now - self._recent[0] > self.policy.window:
                self._recent.popleft()
            if len(self._recent) >= self.policy.max_restarts:
                self._give_up(pid)
                return False
            self._recent.append(now)
            attempt = len(self._recent)
            delay = self.policy.backoff(attempt)
            retry_after = delay + START_ESTIMATE_SECONDS
            self.pool.suspend(
                DatabaseError(
                    "the embedded PostgreSQL stopped unexpectedly and is being restarted; "
                    f"try again in {retry_after:.0f} s",
                    retry_after=retry_after,
                )
            )
            _log.error(
                "the embedded PostgreSQL (pid %s) stopped unexpectedly; restarting it in %.1f s "
                "(restart %d of at most %d within %g s)",
                pid,
                delay,
                attempt,
                self.policy.max_restarts,
                self.policy.window,
                extra={"data_dir": str(self.server.pgdata)},
            )
            await asyncio.sleep(delay)
            try:
                await self.server.restart()
            except Exception as exc:
                detail = exc.message if isinstance(exc, DatabaseError) else repr(exc)
                _log.error("restarting the embedded PostgreSQL failed: %s", detail)
                continue
            break
        await self.pool.resume()
        took = time.monotonic() - noticed
        self.restarts += 1
        self.recovery_seconds.append(took)
        _log.warning(
            "the embedded PostgreSQL is back after %.1f s (pid %s)",
            took,
            self.server.postmaster_pid,
            extra={"restarts": self.restarts},
        )
        return True

    def _give_up(self, pid: int | None) -> None:
        reason = (
            f"the embedded PostgreSQL (pid {pid}) stopped unexpectedly and was not restarted: "
            f"{len(self._recent)} restarts within {self.policy.window:g} s already "
            f"(database.embedded_restarts is {self.policy.max_restarts}); see "
            f"{self.server.pgdata / 'server.log'}"
        )
        self.gave_up = reason
        self.pool.suspend(DatabaseError(reason))
        _log.critical(reason)
        if self._on_exhausted is not None:
            self._on_exhausted(reason)
