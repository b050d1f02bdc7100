"""The `remote` runtime: a provider run elsewhere (Kubernetes, a container started by hand).

The supervisor never starts or stops it; it only probes the address. While it cannot be reached
it is `unhealthy` and probed again with the watchdog's capped exponential backoff, for as long as
it takes: restarting it is not TimeBase's job, so it is never marked failed.
"""

from __future__ import annotations

from timebase.supervisor.runtime import ExitInfo, Runtime


class RemoteRuntime(Runtime):
    kind = "remote"
    managed = False

    def __init__(self, slug: str, address: str) -> None:
        super().__init__(slug)
        self.address = address

    async def start(self) -> str:
        return self.address

    async def stop(self, grace: float) -> None:
        return None

    async def poll(self) -> ExitInfo | None:
        return None
