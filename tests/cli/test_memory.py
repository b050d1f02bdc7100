"""`timebase serve` gives freed memory back once quiet (timebase.cli.memory) and starts Arrow's
mimalloc pool without its eagerly committed arena (timebase.cli) — #14, the gateway's memory."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import subprocess
import sys
import time

import pytest

from timebase.cli.memory import MemoryReleaser, release_memory, should_release


def test_release_decision_needs_work_then_a_quiet_interval() -> None:
    # Worked (0.05 s of CPU since the last release) and then quiet (≤ 10 % of 0.25 s): release.
    assert should_release(0.0, 0.05) is True
    assert should_release(0.025, 0.2) is True
    # Still busy in the last interval: wait.
    assert should_release(0.03, 0.2) is False
    # Quiet, but hardly any work since the last release (idle housekeeping): nothing to give back.
    assert should_release(0.0, 0.049) is False
    assert should_release(0.0, 0.01, busy_cpu=0.01) is True
    assert should_release(0.05, 1.0, interval=1.0) is True


def test_release_memory_returns_freed_heap_pages_to_the_system() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(1024) for _ in range(20_000)]  # ≈ 20 MB in glibc's main heap
    keep = libc.malloc(1024)  # after them: the heap cannot shrink from its top alone
    for block in blocks:
        libc.free(block)
    try:
        # 20 MB of free pages in the middle of the heap: glibc gives them back (madvise).
        assert release_memory() is True
    finally:
        libc.free(keep)


async def test_releaser_releases_after_work_once_quiet_and_stops() -> None:
    releaser = MemoryReleaser(interval=0.05)
    await releaser.start()
    try:
        started = time.process_time()
        while time.process_time() - started < 0.1:  # work: 0.1 s of CPU
            sum(range(1000))
        await asyncio.wait_for(releaser.released.wait(), timeout=10)
        assert releaser.releases >= 1
    finally:
        await releaser.stop()
    released = releaser.releases
    await asyncio.sleep(0.2)
    assert releaser.releases == released  # stopped: no more releases


@pytest.mark.parametrize(("given", "expected"), [(None, "0"), ("1", "1")])
def test_cli_commits_mimalloc_arenas_on_demand_unless_told(
    given: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ARENA_EAGER_COMMIT"}
    if given is not None:
        env["MIMALLOC_ARENA_EAGER_COMMIT"] = given
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, timebase.cli.main, pyarrow as pa; "
            "print(os.environ['MIMALLOC_ARENA_EAGER_COMMIT'], pa.default_memory_pool().backend_name)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{expected} mimalloc\n"


#: Eight threads each holding a malloc'ed block while the others allocate (a barrier), then
#: glibc's own account (`malloc_info`): one <heap nr=…> per arena in use.
ARENAS = """
import ctypes, ctypes.util, sys, threading
from timebase.cli.memory import limit_arenas
print(limit_arenas(), flush=True)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.fdopen.restype = ctypes.c_void_p
barrier = threading.Barrier(8)
def work():
    for _ in range(50):
        libc.malloc(4096)
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
out = libc.fdopen(sys.stdout.fileno(), b"w")
libc.malloc_info(0, ctypes.c_void_p(out))
libc.fflush(ctypes.c_void_p(out))
"""


@pytest.mark.parametrize(("env", "limited"), [({}, True), ({"MALLOC_ARENA_MAX": "4"}, False)])
def test_serve_caps_glibc_arenas_unless_the_environment_sets_them(
    env: dict[str, str], limited: bool
) -> None:
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, **env},
    )
    assert done.returncode == 0, done.stderr
    first, _, info = done.stdout.partition("\n")
    assert first == str(limited)
    arenas = info.count("<heap nr=")
    assert arenas == 2 if limited else arenas == 4, info[:2000]
