"""One supervised provider: start, wait for readiness, probe, restart with backoff, give up.

Home Assistant style: a provider that crashed (its process exited, its container died) or failed
`unhealthy_threshold` probes in a row is stopped and started again after an exponential backoff
(`base * 2**(n-1)`, capped); more than `max_restarts` restarts within `restart_window` seconds and
it is marked `failed` with the reason. A start that does not reach health SERVING within
`start_timeout` counts as a failed attempt like a crash. Every change publishes a new
`ProviderState` snapshot.

Giving up is only for runtimes TimeBase starts itself (process, docker): restarting them again
would not help. A provider TimeBase does not run (`remote`) is never failed: while it cannot be
reached it is `unhealthy` and probed again after the same capped exponential backoff (1 s
doubling to 60 s by default), however long it stays away, and it is `ready` again as soon as a
probe succeeds.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from timebase.core.config import ProvidersConfig
from timebase.sdk.backoff import Backoff
from timebase.sdk.manifest import Manifest
from timebase.sdk.tasks import cancel_and_wait
from timebase.supervisor.probe import Prober, ProbeResult
from timebase.supervisor.runtime import Runtime
from timebase.supervisor.state import (
    FINAL_STATUSES,
    ProviderFailedError,
    ProviderStartError,
    ProviderState,
    ProviderStatus,
)

log = logging.getLogger("timebase.supervisor.watchdog")

LATENCY_ALPHA = 0.3
_READY_POLL_SECONDS = 0.1
PREPARE_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class WatchdogPolicy:
    start_timeout: float = 30.0
    probe_interval: float = 5.0
    probe_timeout: float = 3.0
    unhealthy_threshold: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_restarts: int = 5
    restart_window: float = 300.0
    stop_timeout: float = 5.0
    prepare_timeout: float = PREPARE_TIMEOUT_SECONDS

    @classmethod
    def from_config(cls, config: ProvidersConfig) -> WatchdogPolicy:
        return cls(
            start_timeout=config.start_timeout_seconds,
            probe_interval=config.probe_interval_seconds,
            probe_timeout=config.probe_timeout_seconds,
            unhealthy_threshold=config.unhealthy_threshold,
            backoff_base=config.restart_backoff_seconds,
            backoff_max=config.restart_backoff_max_seconds,
            max_restarts=config.max_restarts,
            restart_window=config.restart_window_seconds,
            stop_timeout=config.stop_timeout_seconds,
        )

    def backoff(self, attempt: int) -> float:
        """Delay before restart number `attempt` (1-based) within the window."""
        return Backoff(self.backoff_base, maximum=self.backoff_max, jitter=0.0).ceiling(attempt)


class SupervisedProvider:
    """The watchdog of one provider (`start()` launches its task, `stop()` ends it)."""

    def __init__(
        self,
        slug: str,
        runtime: Runtime,
        policy: WatchdogPolicy,
        *,
        manifest: Manifest | None = None,
        on_change: Callable[[ProviderState], None] | None = None,
    ) -> None:
        self.slug = slug
        self.runtime = runtime
        self.policy = policy
        self._on_change = on_change
        self._state = ProviderState(
            slug=slug, status=ProviderStatus.STARTING, runtime=runtime.kind, manifest=manifest
        )
        self._changed = asyncio.Event()
        #: Set once the first start attempt is over (ready, failed, or waiting to retry).
        self.settled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._probes = 0
        self._probes_ok = 0

    @property
    def state(self) -> ProviderState:
        return self._state

    # -- state -------------------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        old = self._state
        new = dataclasses.replace(old, **changes)
        if new == old:
            return
        self._state = new
        if new.status is not old.status:
            level = logging.WARNING if new.status in _BAD else logging.INFO
            log.log(
                level,
                "provider %s: %s -> %s%s",
                self.slug,
                old.status.value,
                new.status.value,
                f" ({new.last_error})" if new.status in _BAD and new.last_error else "",
                extra={"provider": self.slug, "status": new.status.value},
            )
        if new.status is not ProviderStatus.STARTING:
            self.settled.set()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self._on_change is not None:
            try:
                self._on_change(new)
            except Exception:
                log.exception("state-change callback failed", extra={"provider": self.slug})

    def fail(self, reason: str) -> None:
        """Mark the provider failed without running it (e.g. invalid options)."""
        self._update(status=ProviderStatus.FAILED, last_error=reason)
        self.settled.set()

    def disable(self) -> None:
        """Mark the provider disabled without running it (an admin turned it off)."""
        self._update(status=ProviderStatus.DISABLED, last_error=None)
        self.settled.set()

    def describe(
        self, *, manifest: Manifest | None, repository: str | None, commit: str | None
    ) -> None:
        """Replace what is known of the provider (a re-read manifest, the installed commit)."""
        self._update(manifest=manifest, repository=repository, commit=commit)

    async def wait_for(
        self, predicate: Callable[[ProviderState], bool], within: float | None = None
    ) -> ProviderState:
        """The first state satisfying `predicate` (TimeoutError after `within` seconds)."""

        async def wait() -> ProviderState:
            while not predicate(self._state):
                await self._changed.wait()
            return self._state

        return await asyncio.wait_for(wait(), within)

    async def wait_ready(self, within: float | None = None) -> ProviderState:
        """The state once ready; ProviderFailedError if it fails or stops first."""
        state = await self.wait_for(
            lambda s: s.status is ProviderStatus.READY or s.status in FINAL_STATUSES, within
        )
        if state.status is not ProviderStatus.READY:
            raise ProviderFailedError(
                f"provider {self.slug} is {state.status.value}: {state.last_error}",
                provider=self.slug,
            )
        return state

    def _record_probe(self, result: ProbeResult) -> None:
        self._probes += 1
        changes: dict[str, Any] = {}
        if result.ok:
            self._probes_ok += 1
            old = self._state.latency_ms
            changes["latency_ms"] = (
                result.latency_ms
                if old is None
                else LATENCY_ALPHA * result.latency_ms + (1 - LATENCY_ALPHA) * old
            )
        changes["uptime"] = self._probes_ok / self._probes
        self._update(**changes)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and self._state.status not in FINAL_STATUSES:
            self._task = asyncio.create_task(self._run(), name=f"watchdog-{self.slug}")

    async def stop(self) -> None:
        """Cancel the watchdog and stop the instance (graceful, then forced)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        try:
            await self.runtime.stop(self.policy.stop_timeout)
        finally:
            if self._state.status not in (ProviderStatus.FAILED, ProviderStatus.DISABLED):
                self._update(status=ProviderStatus.STOPPED, pid=None, container_id=None)
            self.settled.set()

    async def _run(self) -> None:
        try:
            await asyncio.wait_for(self.runtime.prepare(), self.policy.prepare_timeout)
        except TimeoutError:
            self.fail(
                f"preparing the {self.runtime.kind} runtime took over {self.policy.prepare_timeout:g} s"
            )
            return
        except ProviderStartError as exc:
            self.fail(exc.message)
            return
        except Exception as exc:
            log.exception("preparing provider %s failed", self.slug, extra={"provider": self.slug})
            self.fail(f"preparing the {self.runtime.kind} runtime failed: {exc}")
            return
        restarts: collections.deque[float] = collections.deque()
        unreachable = 0  # failed readiness waits in a row of a provider TimeBase does not run
        start_timeout = self.policy.start_timeout
        while True:
            reason, was_ready = await self._run_once(start_timeout)
            try:
                await self.runtime.stop(self.policy.stop_timeout)
            except Exception:
                log.exception(
                    "stopping provider %s failed", self.slug, extra={"provider": self.slug}
                )
            if not self.runtime.managed:
                unreachable = 1 if was_ready else unreachable + 1
                # A probe again, not a start: one probe timeout is enough to tell.
                start_timeout = min(self.policy.start_timeout, self.policy.probe_timeout)
                await self._probe_again_later(reason, unreachable)
                continue
            now = time.monotonic()
            while restarts and now - restarts[0] > self.policy.restart_window:
                restarts.popleft()
            if len(restarts) >= self.policy.max_restarts:
                self._update(
                    status=ProviderStatus.FAILED,
                    last_error=(
                        f"gave up after {len(restarts)} restarts within "
                        f"{self.policy.restart_window:g} s; last error: {reason}"
                    ),
                    pid=None,
                    container_id=None,
                )
                return
            restarts.append(now)
            delay = self.policy.backoff(len(restarts))
            self._update(
                status=ProviderStatus.RESTARTING,
                restarts=self._state.restarts + 1,
                last_error=reason,
                pid=None,
                container_id=None,
            )
            log.info(
                "restarting provider %s in %.2f s",
                self.slug,
                delay,
                extra={"provider": self.slug, "reason": reason},
            )
            await asyncio.sleep(delay)

    async def _probe_again_later(self, reason: str, attempt: int) -> None:
        """An unreachable provider TimeBase does not run: unhealthy, probed again after the
        backoff of `attempt` (never given up)."""
        delay = self.policy.backoff(attempt)
        self._update(
            status=ProviderStatus.UNHEALTHY,
            last_error=f"unreachable: {reason}; probing again in {delay:g} s (retry {attempt})",
        )
        log.info(
            "probing provider %s again in %.2f s",
            self.slug,
            delay,
            extra={"provider": self.slug, "reason": reason, "attempt": attempt},
        )
        await asyncio.sleep(delay)

    async def _run_once(self, start_timeout: float) -> tuple[str, bool]:
        """Start one instance and watch it; return why it has to be restarted, and whether it
        was ready in between."""
        deadline = time.monotonic() + start_timeout
        if self.runtime.managed or self._state.status is ProviderStatus.STARTING:
            self._update(
                status=ProviderStatus.STARTING,
                address=None,
                started_at=datetime.now(UTC),
                pid=None,
                container_id=None,
            )
        try:
            address = await asyncio.wait_for(self.runtime.start(), start_timeout)
        except TimeoutError:
            return f"did not start within {start_timeout:g} s", False
        except ProviderStartError as exc:
            return exc.message, False
        except Exception as exc:
            log.exception("starting provider %s failed", self.slug, extra={"provider": self.slug})
            return f"start failed: {exc}", False
        self._update(address=address, pid=self.runtime.pid, container_id=self.runtime.container_id)
        prober = Prober(address)
        try:
            not_ready = await self._wait_ready(prober, deadline, start_timeout)
            if not_ready is not None:
                return not_ready, False
            self._update(status=ProviderStatus.READY)
            return await self._monitor(prober), True
        finally:
            await asyncio.shield(prober.close())

    async def _wait_ready(self, prober: Prober, deadline: float, within: float) -> str | None:
        last = "no answer"
        while True:
            ended = await self.runtime.poll()
            if ended is not None:
                return f"{ended.reason} before it was ready"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return f"not ready within {within:g} s: {last}"
            result = await prober.probe(min(self.policy.probe_timeout, remaining))
            if result.ok:
                self._record_probe(result)
                return None
            last = f"{result.method}: {result.message}"
            await asyncio.sleep(min(_READY_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    async def _monitor(self, prober: Prober) -> str:
        failures = 0
        while True:
            await asyncio.sleep(self.policy.probe_interval)
            ended = await self.runtime.poll()
            if ended is not None:
                return f"crashed: {ended.reason}"
            result = await prober.probe(self.policy.probe_timeout)
            self._record_probe(result)
            if result.ok:
                failures = 0
                self._update(status=ProviderStatus.READY)
                continue
            failures += 1
            ended = await self.runtime.poll()
            if ended is not None:
                return f"crashed: {ended.reason}"
            message = f"health probe failed ({result.method}: {result.message})"
            self._update(status=ProviderStatus.UNHEALTHY, last_error=message)
            if failures >= self.policy.unhealthy_threshold:
                return f"unhealthy: {failures} consecutive probes failed, last: {result.message}"


_BAD = frozenset({ProviderStatus.UNHEALTHY, ProviderStatus.RESTARTING, ProviderStatus.FAILED})
