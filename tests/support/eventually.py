"""Bounded waiting for asynchronous state, instead of a fixed sleep followed by an assertion.

    await eventually(lambda: hub.subscribers(key) == 2, what="both clients subscribed")
    await eventually(status_is_serving)              # an async predicate works too
    wait_until(lambda: path.exists(), within=30)     # the same for synchronous tests

The predicate is polled every `interval` seconds until it is true; after `within` seconds the
test fails, naming what it waited for. The bound guards against hangs; it is never a speed claim
(speed belongs in benchmarks/): choose it generously.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

import pytest

Predicate = Callable[[], bool | Awaitable[bool]]


async def eventually(
    predicate: Predicate, within: float = 10.0, *, interval: float = 0.01, what: str = ""
) -> None:
    """Return as soon as `predicate()` is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {within:g} s waiting for {what or _describe(predicate)}")
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], bool], within: float = 10.0, *, interval: float = 0.02, what: str = ""
) -> None:
    """`eventually` for synchronous tests (blocks the calling thread while polling)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {within:g} s waiting for {what or _describe(predicate)}")
        time.sleep(interval)


def _describe(predicate: Callable[..., object]) -> str:
    code = getattr(predicate, "__code__", None)
    if code is not None:
        return f"{predicate.__qualname__} ({code.co_filename}:{code.co_firstlineno})"
    return repr(predicate)
