"""What the gateway sees of a supervised provider: an immutable `ProviderState` snapshot."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from timebase.sdk.errors import ProviderNotFound, TimeBaseError
from timebase.sdk.manifest import Manifest


class ProviderStatus(enum.StrEnum):
    STARTING = "starting"  # launched, waiting for health SERVING
    READY = "ready"  # serving; probes succeed
    #: Probes fail: restarted after `unhealthy_threshold` in a row; a remote provider stays
    #: unhealthy while unreachable, probed again with backoff until it answers.
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"  # crashed or unhealthy; waiting out the backoff
    #: Gave up: too many restarts in the window (process and docker runtimes only, never remote),
    #: or it cannot be run at all.
    FAILED = "failed"
    STOPPED = "stopped"  # stopped by the supervisor
    #: Turned off by an admin (`PATCH /api/providers/{slug}`); not running until enabled again.
    DISABLED = "disabled"


#: Statuses a provider never leaves by itself.
FINAL_STATUSES = frozenset({ProviderStatus.FAILED, ProviderStatus.STOPPED, ProviderStatus.DISABLED})


@dataclass(frozen=True)
class ProviderState:
    """One provider as the supervisor last saw it (a new snapshot on every change)."""

    slug: str
    status: ProviderStatus
    runtime: str  # process | docker | remote
    #: `host:port` the provider's gRPC server answers on (None until started).
    address: str | None = None
    #: Restarts since the supervisor started (crashes, failed probes, failed starts).
    restarts: int = 0
    #: Why the provider last crashed, went unhealthy, failed or could not start.
    last_error: str | None = None
    #: Exponentially weighted moving average of successful probe round trips, in milliseconds.
    latency_ms: float | None = None
    #: Share of health probes that succeeded since the supervisor started (None before any).
    uptime: float | None = None
    manifest: Manifest | None = None
    #: When the current instance was launched (UTC).
    started_at: datetime | None = None
    #: Process id (process runtime) or container id (docker runtime) of the current instance.
    pid: int | None = None
    container_id: str | None = None
    #: The Git repository it was installed from, and the commit checked out (None otherwise).
    repository: str | None = None
    commit: str | None = None

    @property
    def ready(self) -> bool:
        return self.status is ProviderStatus.READY


class ProviderStartError(TimeBaseError):
    """A provider could not be launched or did not become ready."""

    code = "PROVIDER_START_ERROR"


class ProviderNotFoundError(ProviderNotFound):
    """No supervised provider has that slug (a 404 / NOT_FOUND wherever it reaches a door)."""


class ProviderFailedError(TimeBaseError):
    """The provider reached a final status (failed or stopped) while being waited for."""

    code = "PROVIDER_FAILED"
