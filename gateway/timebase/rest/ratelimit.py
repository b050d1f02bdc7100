"""Per-client rate limiting of the REST door: one token bucket per client IP.

A bucket holds at most `burst` tokens and refills at `rate` tokens per second; each request
takes one. Headers on every limited route:

- `X-RateLimit-Limit`: the bucket size (burst);
- `X-RateLimit-Remaining`: whole tokens left after this request;
- `X-RateLimit-Reset`: seconds until the bucket is full again (rounded up);
- on 429 only, `Retry-After`: seconds until the next request is allowed (rounded up).

At most `max_clients` buckets are kept (least recently used ones are forgotten: a forgotten
client starts again with a full bucket).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from timebase.sdk.ratelimit import TokenBucket


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after: float = 0.0

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


class ClientRateLimiter:
    """One `TokenBucket` (the SDK's) per client, least recently used ones forgotten."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, client: str) -> Decision:
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = TokenBucket.per_second(self.burst, self.rate, self.clock)
        allowed = bucket.try_take()
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        tokens = bucket.counted
        reset = math.ceil((self.burst - tokens) / self.rate)
        retry_after = 0.0 if allowed else (1.0 - tokens) / self.rate
        return Decision(allowed, self.burst, math.floor(tokens), reset, retry_after)
