"""The thread-to-loop bridge: pyarrow serves Flight calls on its own threads, the gateway core
runs on the event loop.

    bridge = LoopBridge()
    bridge.open(asyncio.get_running_loop())     # in start()
    result = bridge.call(coro, timeout)         # from a Flight thread: run on the loop, wait
    bridge.release(coro, timeout)               # the same, also while closing (returning leases)
    bridge.close()                              # in stop(): refuse new calls, cancel waiting ones

A call refused or cancelled because the server is stopping raises `shutting_down()` (a Flight
UNAVAILABLE error the client can retry).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pyarrow import flight

from timebase.flight.errors import shutting_down

T = TypeVar("T")

#: How often a waiting call checks whether its client cancelled.
CANCEL_POLL_SECONDS = 0.1


class LoopBridge:
    """Runs coroutines on one event loop for other threads; see the module docstring."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()
        self._closing = False

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._closing = False

    def close(self) -> None:
        """Refuse new calls and cancel the calls waiting on the loop."""
        self._closing = True
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    def call(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> T:
        """Run `coro` on the loop and wait for it (from a thread that is not the loop's).

        `cancelled` (the Flight call context's `is_cancelled`) is polled while waiting: once the
        client has cancelled, the coroutine is cancelled too (its fetches stop) and the call
        raises `FlightCancelledError`."""
        loop = self._loop
        if loop is None or self._closing or loop.is_closed():
            coro.close()
            raise shutting_down()
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        with self._lock:
            self._pending.add(future)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                wait = CANCEL_POLL_SECONDS if cancelled is not None else None
                if deadline is not None:
                    left = max(0.0, deadline - time.monotonic())
                    wait = left if wait is None else min(wait, left)
                try:
                    return future.result(wait)
                except concurrent.futures.TimeoutError:
                    if deadline is not None and time.monotonic() >= deadline:
                        future.cancel()
                        raise shutting_down() from None
                    if cancelled is not None and cancelled():
                        future.cancel()
                        raise flight.FlightCancelledError("the client cancelled the call") from None
        except concurrent.futures.CancelledError:
            raise shutting_down() from None
        finally:
            with self._lock:
                self._pending.discard(future)

    def release(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T | None:
        """Like `call`, also while closing (to give back what a call holds); None when the
        loop is gone or the wait fails."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            return None
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        with contextlib.suppress(Exception):
            return future.result(timeout)
        return None
