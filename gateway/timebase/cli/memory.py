"""Give the memory freed by a burst of work back to the system once `timebase serve` goes quiet.

glibc's `free()` keeps most freed memory in the process (the main heap shrinks only from its top,
the threads' arenas hardly ever), and Arrow's pool keeps its own: after a burst of requests the
gateway held 25–40 MB more than idle (docs/profiles.md, "Memory"). `MemoryReleaser` watches the
process's CPU time: when the process has done some work (`busy_cpu` seconds of CPU since the
last release) and then stays quiet for one `interval` (under `quiet_share` of it on the CPU), it
calls glibc's `malloc_trim(0)` (every arena: free pages back with `madvise`) and Arrow's
`release_unused()` off the event loop. Under load it does nothing (the process is never quiet),
and idle it costs one `time.process_time()` per interval. `limit_arenas()` caps glibc's
arenas (each keeps some memory after a trim), called before the servers start their threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import time
from collections.abc import Callable

import pyarrow as pa

_log = logging.getLogger(__name__)

#: Seconds between two looks at the process's CPU time.
INTERVAL_SECONDS = 0.25
#: CPU seconds spent since the last release that make the next quiet interval release again.
BUSY_CPU_SECONDS = 0.05
#: An interval counts as quiet when the process used at most this share of it on the CPU.
QUIET_SHARE = 0.1


#: glibc's malloc arenas at most (its default: 8 per core). Each thread that allocates while
#: the others hold theirs gets an arena of its own, and each arena keeps some memory after a
#: trim: the gRPC, Flight, ADBC and executor threads kept ≈ 4 MB more than with 2.
ARENA_MAX = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def _libc_function(name: str) -> Callable[..., int] | None:
    """A glibc function, or None where the C library has none (musl, macOS)."""
    try:
        function: Callable[..., int] = getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None
    return function


_TRIM = _libc_function("malloc_trim")
if _TRIM is not None:
    _TRIM.argtypes = [ctypes.c_size_t]  # type: ignore[attr-defined]
    _TRIM.restype = ctypes.c_int  # type: ignore[attr-defined]


def limit_arenas(arenas: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas at `arenas` for the threads started from now on, unless the
    environment says otherwise (MALLOC_ARENA_MAX, read by glibc at start). True when set."""
    mallopt = _libc_function("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))


def release_memory() -> bool:
    """Return the free memory of glibc's arenas and of Arrow's default pool to the system.
    Blocking (a few milliseconds at most: it walks the free lists); True when glibc released
    some."""
    pa.default_memory_pool().release_unused()
    return bool(_TRIM(0)) if _TRIM is not None else False


def should_release(
    interval_cpu: float,
    cpu_since_release: float,
    *,
    interval: float = INTERVAL_SECONDS,
    busy_cpu: float = BUSY_CPU_SECONDS,
    quiet_share: float = QUIET_SHARE,
) -> bool:
    """Whether to release now: the process has worked since the last release and has just been
    quiet for a whole interval."""
    return cpu_since_release >= busy_cpu and interval_cpu <= quiet_share * interval


class MemoryReleaser:
    """Runs `release_memory()` when the process goes quiet after work (see the module doc)."""

    def __init__(self, *, interval: float = INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.releases = 0
        #: Set at each release (for whoever waits for one).
        self.released = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            # The CPU time from now on counts, the work before the task first runs included.
            self._task = asyncio.create_task(self._run(time.process_time()), name="memory-releaser")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, last: float) -> None:
        since = 0.0
        while True:
            await asyncio.sleep(self.interval)
            now = time.process_time()
            used, last = now - last, now
            since += used
            if not should_release(used, since, interval=self.interval):
                continue
            try:
                await asyncio.to_thread(release_memory)
            except Exception:  # never let it take the server down
                _log.exception("releasing free memory failed")
                return
            self.releases += 1
            self.released.set()
            since, last = 0.0, time.process_time()  # the release's own CPU is not work
