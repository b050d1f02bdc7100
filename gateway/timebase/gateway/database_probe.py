"""A cheap database probe (`SELECT 1`): health checks probe now; the gRPC door also runs it
periodically (`start(interval)`) and listens for changes (`listen`) to drive gRPC health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from timebase.sdk.tasks import cancel_and_wait
from timebase.store import Store
from timebase.store.pool import Connection

_log = logging.getLogger(__name__)


def _select_one(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchall()


class DatabaseProbe:
    def __init__(
        self,
        store: Store,
        interval: float = 5.0,
        timeout: float = 3.0,
        on_change: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.timeout = timeout
        self._listeners: list[Callable[[bool], Awaitable[None]]] = []
        if on_change is not None:
            self._listeners.append(on_change)
        self.up = True
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Probe now; update `up` (and call `on_change` when it changed)."""
        try:
            await asyncio.wait_for(
                self.store.pool.run(_select_one, doing="probing the database"), self.timeout
            )
            up, error = True, None
        except Exception as exc:
            up, error = False, str(exc) or type(exc).__name__
        changed = up != self.up
        self.up, self.last_error = up, error
        if changed:
            if up:
                _log.info("the database is reachable again")
            else:
                _log.error("the database is unreachable: %s", error)
            for listener in self._listeners:
                await listener(up)
        return up

    def listen(self, on_change: Callable[[bool], Awaitable[None]]) -> None:
        """Call `on_change(up)` whenever a check finds the database's state changed."""
        self._listeners.append(on_change)

    async def start(self, interval: float | None = None) -> None:
        """Probe now, then every `interval` seconds (the constructor's when None)."""
        if interval is not None:
            self.interval = interval
        await self.check()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
