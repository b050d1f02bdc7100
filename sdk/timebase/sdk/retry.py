"""Retry with exponential backoff and full jitter for transient upstream errors.

    bars = await retry(lambda: fetch(symbol), attempts=4)

Transient: `UpstreamUnavailable`, `RateLimited` (its `retry_after` is honoured when it fits under
`max_delay`), `TimeoutError`, `ConnectionError`; anything else is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from timebase.sdk.backoff import Backoff
from timebase.sdk.errors import RateLimited, TimeBaseError

T = TypeVar("T")
log = logging.getLogger("timebase.sdk.retry")

TRANSIENT_BUILTINS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TimeBaseError):
        return exc.transient
    return isinstance(exc, TRANSIENT_BUILTINS)


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    max_delay: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Full-jitter delay before retry number `attempt` (1-based): uniform in [0, base·2^(n-1)]."""
    return Backoff(base, maximum=max_delay, full_jitter=True).delay(attempt, rng)


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    base: float = 0.5,
    max_delay: float = 30.0,
    retry_on: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Await `fn()` up to `attempts` times, sleeping with backoff + jitter between transient errors."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except Exception as exc:
            if attempt == attempts or not retry_on(exc):
                raise
            delay = backoff_delay(attempt, base=base, max_delay=max_delay, rng=rng)
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                if exc.retry_after > max_delay:
                    raise
                delay = max(delay, exc.retry_after)
            log.warning(
                "transient error (attempt %d/%d), retrying in %.2f s: %s",
                attempt,
                attempts,
                delay,
                exc,
            )
            await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
