"""Exponential backoff: the one delay rule for every retry loop in TimeBase.

The n-th delay (1-based) grows from `initial` by `factor` up to `maximum` seconds, then jitter
spreads it: `full_jitter` picks uniformly in [0, ceiling] (retries of one request: callers that
fail together do not retry together), otherwise ±`jitter` of the ceiling (0 for none).

    Backoff(initial=0.5, maximum=30.0, full_jitter=True).delay(attempt)   # timebase.sdk.retry
    Backoff(initial=1.0, maximum=60.0, jitter=0.0).delay(restarts)       # a watchdog's restarts
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: `initial` · `factor`^(n-1), at most `maximum` seconds."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    #: ± this fraction of the ceiling (ignored with full_jitter).
    jitter: float = 0.2
    #: Uniform in [0, ceiling] instead.
    full_jitter: bool = False

    def ceiling(self, attempt: int) -> float:
        """The delay before retry number `attempt` (1-based) without jitter."""
        exponent = max(0, attempt - 1)
        if self.factor > 1 and exponent > 1024:  # beyond any maximum; avoids an overflow
            return float(self.maximum)
        return float(min(self.maximum, self.initial * self.factor**exponent))

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The jittered delay before retry number `attempt` (1-based); 0 before the first."""
        if attempt <= 0:
            return 0.0
        ceiling = self.ceiling(attempt)
        if self.full_jitter:
            return float(ceiling * rng())
        if not self.jitter or math.isinf(ceiling):
            return ceiling
        return ceiling * (1 + self.jitter * (2 * rng() - 1))
