"""Failed authentication attempts, limited per client address.

An address may fail `max_failures` times within `window` seconds; after that every attempt from
it (a right key included) is refused as rate limited until its oldest failure leaves the window.
At most `max_clients` addresses are remembered (the least recently failing ones are forgotten).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        max_failures: int,
        window: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again; None when it may now."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        if len(failures) < self.max_failures:
            return None
        return failures[0] + self.window - now

    def failed(self, address: str) -> None:
        failures = self._failures.pop(address, None) or deque(maxlen=self.max_failures)
        failures.append(self.clock())
        self._failures[address] = failures
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
