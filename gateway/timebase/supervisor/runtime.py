"""The `Runtime` interface: how one provider instance is prepared, started, watched and stopped.

Three implementations share it: `ProcessRuntime` (a local `python src/main.py`), `DockerRuntime`
(a hardened container) and `RemoteRuntime` (an address the supervisor only probes). The watchdog
(`timebase.supervisor.watchdog`) only ever talks to this interface.
"""

from __future__ import annotations

import abc
import signal
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ExitInfo:
    """How an instance ended: exit code (negative: killed by that signal) and a readable reason."""

    code: int | None
    reason: str


def describe_exit(code: int | None) -> str:
    if code is None:
        return "ended (exit code unknown)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"


class Runtime(abc.ABC):
    """One provider's instances, started again after each stop (the watchdog restarts through it)."""

    #: process | docker | remote
    kind: ClassVar[str]
    #: False when the supervisor neither starts nor stops the provider (remote).
    managed: ClassVar[bool] = True

    def __init__(self, slug: str) -> None:
        self.slug = slug

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time set-up before the first start (venv, image); may take long. Default: none."""

    @abc.abstractmethod
    async def start(self) -> str:
        """Launch an instance and return its gRPC address (`host:port`).

        Raises `ProviderStartError` when it cannot. If cancelled, nothing is left running.
        """

    @abc.abstractmethod
    async def stop(self, grace: float) -> None:
        """Stop the instance (graceful for `grace` seconds, then forced); idempotent."""

    @abc.abstractmethod
    async def poll(self) -> ExitInfo | None:
        """None while the instance runs (or cannot be known), else how it ended."""

    async def logs(self, tail: int = 100) -> list[str]:
        """The last `tail` lines the instance wrote (empty when unknown)."""
        return []

    async def discard(self, keep: Runtime | None = None) -> None:  # noqa: B027 - optional hook
        """Delete what this runtime made for one revision of the provider and nothing else
        needs (the docker runtime: the image it named after a commit), unless `keep` uses it
        too. Called once the provider is uninstalled or runs another revision. Default: none."""

    def kill_now(self) -> None:  # noqa: B027 - optional hook
        """Last resort when a graceful stop timed out: kill synchronously, best effort."""

    @property
    def pid(self) -> int | None:
        return None

    @property
    def container_id(self) -> str | None:
        return None
