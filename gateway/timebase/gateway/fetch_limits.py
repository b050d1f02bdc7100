"""Bounded provider fetches: at most `max_fetches` at once overall, `max_fetches_per_client` per
client; a fetch over the bound waits in line up to `queue_timeout` seconds, then fails with
`ServerBusy` (503 / UNAVAILABLE with Retry-After on every door).

    limiter = FetchLimiter(16, 4, queue_timeout=10.0)
    with fetch_client(client_key(caller)):      # a door (or the query API) names the client
        ...
        async with limiter.slot():              # the core, around one provider fetch
            ...

The client is carried in a context variable, so the tasks the core creates for a request
(request coalescing) fetch on behalf of the client that started them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator

from timebase.auth import Caller
from timebase.sdk.errors import ServerBusy

_CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("timebase_fetch_client", default="")


def client_key(caller: Caller) -> str:
    """Who a fetch counts against: the API key's name, else the client's address (without its
    port: a client's connections are one client)."""
    if caller.key_name:
        return f"key:{caller.key_name}"
    address = caller.address
    for prefix in ("ipv4:", "ipv6:", "unix:"):
        address = address.removeprefix(prefix)
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and host:
        address = host
    return address or caller.door


@contextlib.contextmanager
def fetch_client(client: str | None) -> Iterator[None]:
    """Fetches started inside count against `client` (None: unnamed, counted together)."""
    token = _CLIENT.set(client or "")
    try:
        yield
    finally:
        _CLIENT.reset(token)


def current_client() -> str:
    return _CLIENT.get()


class FetchLimiter:
    """Semaphores overall and per client; see the module docstring."""

    def __init__(
        self, max_fetches: int = 16, max_per_client: int = 4, *, queue_timeout: float = 10.0
    ) -> None:
        self.max_fetches = max_fetches
        self.max_per_client = max_per_client
        self.queue_timeout = queue_timeout
        self._total = asyncio.Semaphore(max_fetches)
        #: client → (its semaphore, requests holding or waiting for it).
        self._clients: dict[str, tuple[asyncio.Semaphore, int]] = {}
        #: Fetches running now (for metrics and tests).
        self.running = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one fetch slot of the current client (waiting up to `queue_timeout`)."""
        client = current_client()
        semaphore, users = self._clients.get(client) or (asyncio.Semaphore(self.max_per_client), 0)
        self._clients[client] = (semaphore, users + 1)
        try:
            await self._acquire(semaphore, client)
            try:
                yield
            finally:
                self.running -= 1
                self._total.release()
                semaphore.release()
        finally:
            semaphore, users = self._clients[client]
            if users <= 1:
                del self._clients[client]
            else:
                self._clients[client] = (semaphore, users - 1)

    async def _acquire(self, semaphore: asyncio.Semaphore, client: str) -> None:
        held_client = False
        try:
            async with asyncio.timeout(self.queue_timeout):
                await semaphore.acquire()
                held_client = True
                await self._total.acquire()
        except TimeoutError:
            if held_client:
                semaphore.release()
            which = (
                f"{self.max_fetches} at once overall (gateway.max_fetches)"
                if held_client
                else f"{self.max_per_client} at once per client (gateway.max_fetches_per_client)"
            )
            raise ServerBusy(
                f"too many provider fetches: at most {which}, and none became free within "
                f"{self.queue_timeout:g} s; try again later",
                retry_after=self.queue_timeout,
                limit_key="gateway.max_fetches"
                if held_client
                else "gateway.max_fetches_per_client",
            ) from None
        except BaseException:
            if held_client:
                semaphore.release()
            raise
        self.running += 1
