"""A circuit breaker per provider: stop calling a provider that keeps failing, try it again later.

closed ──(failure_threshold failures in a row)──► open ──(reset_after s)──► half_open
half_open: one trial call; success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, slug: str) -> str:
        """closed | open | half_open."""
        circuit = self._circuits.get(slug)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        if self.clock() - circuit.opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def retry_in(self, slug: str) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        circuit = self._circuits.get(slug)
        if circuit is None or circuit.opened_at is None:
            return 0.0
        return max(0.0, circuit.opened_at + self.reset_after - self.clock())

    def allows(self, slug: str) -> bool:
        """Whether a call may go to `slug` now (does not reserve the half-open trial)."""
        state = self.state(slug)
        if state == "closed":
            return True
        return state == "half_open" and not self._circuits[slug].trial_running

    def begin(self, slug: str) -> bool:
        """Reserve a call; False when the circuit is open (or its half-open trial is taken)."""
        if not self.allows(slug):
            return False
        if self.state(slug) == "half_open":
            self._circuits[slug].trial_running = True
        return True

    def success(self, slug: str) -> None:
        self._circuits.pop(slug, None)

    def failure(self, slug: str) -> None:
        circuit = self._circuits.setdefault(slug, _Circuit())
        circuit.trial_running = False
        circuit.failures += 1
        if circuit.opened_at is not None or circuit.failures >= self.failure_threshold:
            circuit.opened_at = self.clock()

    def release(self, slug: str) -> None:
        """A reserved call ended without telling anything about the provider's health."""
        circuit = self._circuits.get(slug)
        if circuit is not None:
            circuit.trial_running = False
