"""Provider lifecycle: discovery, runtimes (process, docker, remote), readiness and watchdog.

The gateway builds one `Supervisor(config)`, `await supervisor.start()`s it and reads provider
states (`providers()`, `get(slug)`, `wait_ready(slug)`, `subscribe(callback)`) to route requests.
"""

from timebase.supervisor.discovery import (
    DiscoveredProvider,
    InvalidManifest,
    bundled_providers_dir,
    discover,
)
from timebase.supervisor.docker_runtime import ContainerLimits, DockerRuntime
from timebase.supervisor.probe import Prober, ProbeResult
from timebase.supervisor.process import ProcessRuntime
from timebase.supervisor.remote import RemoteRuntime
from timebase.supervisor.runtime import ExitInfo, Runtime
from timebase.supervisor.state import (
    ProviderFailedError,
    ProviderNotFoundError,
    ProviderStartError,
    ProviderState,
    ProviderStatus,
)
from timebase.supervisor.supervisor import Supervisor
from timebase.supervisor.watchdog import SupervisedProvider, WatchdogPolicy

__all__ = [
    "ContainerLimits",
    "DiscoveredProvider",
    "DockerRuntime",
    "ExitInfo",
    "InvalidManifest",
    "ProbeResult",
    "Prober",
    "ProcessRuntime",
    "ProviderFailedError",
    "ProviderNotFoundError",
    "ProviderStartError",
    "ProviderState",
    "ProviderStatus",
    "RemoteRuntime",
    "Runtime",
    "SupervisedProvider",
    "Supervisor",
    "WatchdogPolicy",
    "bundled_providers_dir",
    "discover",
]
