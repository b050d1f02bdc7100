"""Token buckets: the one implementation, for a provider's manifest `rate_limits` (per minute and
per day, `RateLimiter`) and for the REST door's per-client limit (`timebase.rest.ratelimit`).

    await self.rate_limiter.acquire()      # before each upstream request

`acquire` waits while the wait is short (`max_wait`, default 5 s) and otherwise raises
`RateLimited(retry_after=…)`, which the SDK sends as RESOURCE_EXHAUSTED with a RetryInfo detail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from timebase.sdk.errors import RateLimited

if TYPE_CHECKING:
    from timebase.sdk.manifest import Manifest


class TokenBucket:
    """`capacity` tokens (full at first), refilled continuously at `capacity / period` tokens per
    second (`per_second` gives the rate directly)."""

    def __init__(
        self, capacity: float, period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity <= 0 or period <= 0:
            raise ValueError("capacity and period must be positive")
        self.capacity = float(capacity)
        self.rate = capacity / period
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    @classmethod
    def per_second(
        cls, capacity: float, rate: float, clock: Callable[[], float] = time.monotonic
    ) -> TokenBucket:
        """A bucket of `capacity` tokens refilled at `rate` tokens per second."""
        if rate <= 0:
            raise ValueError("capacity and rate must be positive")
        bucket = cls(capacity, capacity / rate, clock)
        bucket.rate = float(rate)
        return bucket

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def wait_time(self, tokens: float = 1.0) -> float:
        """Seconds until `tokens` are available (0 when they are now)."""
        self._refill()
        missing = tokens - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, tokens: float = 1.0) -> None:
        self._refill()
        self._tokens -= tokens

    def try_take(self, tokens: float = 1.0) -> bool:
        """Take `tokens` if they are available now; never goes below zero."""
        self._refill()
        if self._tokens < tokens:
            return False
        self._tokens -= tokens
        return True

    @property
    def counted(self) -> float:
        """The tokens as of the last refill or take (no refill: a stable value to report)."""
        return self._tokens


class RateLimiter:
    """All of a provider's buckets; a request needs a token from each."""

    def __init__(
        self,
        requests_per_minute: int | None = None,
        requests_per_day: int | None = None,
        *,
        max_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.buckets: list[TokenBucket] = []
        if requests_per_minute:
            self.buckets.append(TokenBucket(requests_per_minute, 60.0, clock))
        if requests_per_day:
            self.buckets.append(TokenBucket(requests_per_day, 86400.0, clock))
        self.max_wait = max_wait
        self._sleep = sleep  # injectable, with `clock`, so tests control time
        self._lock = asyncio.Lock()

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, max_wait: float = 5.0) -> RateLimiter:
        limits = manifest.rate_limits
        return cls(limits.requests_per_minute, limits.requests_per_day, max_wait=max_wait)

    @property
    def unlimited(self) -> bool:
        return not self.buckets

    def wait_time(self) -> float:
        return max((b.wait_time() for b in self.buckets), default=0.0)

    def try_acquire(self) -> bool:
        """Take a token from every bucket if all have one now; never waits."""
        if self.wait_time() > 0:
            return False
        for bucket in self.buckets:
            bucket.take()
        return True

    async def acquire(self, max_wait: float | None = None) -> None:
        """Take a token, waiting up to `max_wait` seconds; RateLimited when that is not enough."""
        if not self.buckets:
            return
        limit = self.max_wait if max_wait is None else max_wait
        async with self._lock:  # FIFO: waiters are served in arrival order
            wait = self.wait_time()
            if wait > limit:
                raise RateLimited(
                    f"provider rate limit reached; retry in {wait:.1f} s", retry_after=wait
                )
            while wait > 0:
                await self._sleep(wait)
                wait = self.wait_time()
            for bucket in self.buckets:
                bucket.take()
