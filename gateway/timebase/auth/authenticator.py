"""The one authenticator behind every door: a presented key → the `Caller` it stands for.

    auth = Authenticator(config.auth, store.pool)    # auth.mode: keys; pool None: config keys only
    await auth.start()                                 # loads the keys, starts the reload loop
    caller = await auth.authenticate(header, address, door)   # raises Unauthenticated, RateLimited
    await auth.stop()                                  # saves the last use of every key

Keys are held in memory (the `auth.keys` of the configuration and the active rows of `api_keys`)
and compared by SHA-256 with `hmac.compare_digest`, against every known key (no early exit).
A key the snapshot does not know is looked up in the table by its hash (and kept), so a key just
made by `timebase keys create` works on its first call; revocations take effect at the next
reload (`auth.reload_seconds`, 5 s by default). When keys were last used is recorded in
memory and written to the table by the same background loop, never on the request's path.

Wrong keys are counted per client address (`FailureLimiter`): after `auth.max_failures` within
`auth.failure_window_seconds` the address is refused as rate limited (HTTP 429, gRPC
RESOURCE_EXHAUSTED, Flight UNAVAILABLE) until the window has passed. A missing key is not a
guess and is not counted.

With `auth.mode` other than `keys`, every caller is `Caller.local` (every scope).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import math
from datetime import UTC, datetime

from timebase.auth import keystore
from timebase.auth.caller import Caller
from timebase.auth.failures import FailureLimiter
from timebase.auth.keys import MAX_KEY_LENGTH, ApiKey, bearer_token, hash_key
from timebase.core.config import AuthConfig
from timebase.sdk.errors import ClientRateLimited, TimeBaseError, Unauthenticated
from timebase.sdk.tasks import cancel_and_wait
from timebase.store.pool import ConnectionPool

_log = logging.getLogger(__name__)

MISSING_KEY = (
    "missing API key: send the header 'Authorization: Bearer <key>' (create a key with "
    "`timebase keys create --scope read`)"
)
INVALID_KEY = "invalid API key: it is not a key of this TimeBase, or it was revoked"


class Authenticator:
    """See the module docstring."""

    def __init__(
        self,
        config: AuthConfig | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        self.config = config or AuthConfig()
        self.pool = pool
        self.failures = FailureLimiter(self.config.max_failures, self.config.failure_window_seconds)
        self._keys: tuple[ApiKey, ...] = self.config.keys
        self._used: dict[str, datetime] = {}
        self._last_used: dict[str, datetime] = {}
        self._reload_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def disabled(cls) -> Authenticator:
        """Auth off: every caller has every scope."""
        return cls(AuthConfig(mode="none"))

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        """The keys accepted now (configured and active database keys)."""
        return self._keys

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.enabled or self.pool is None:
            return
        await self.reload()
        self._task = asyncio.create_task(self._run(), name="timebase-auth-reload")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        with contextlib.suppress(TimeBaseError):
            await self.save_last_use()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_seconds)
            try:
                await self.save_last_use()
                await self.reload()
            except TimeBaseError as exc:  # the database is down: keep the last snapshot
                _log.warning("could not reload the API keys: %s", exc.message)

    async def reload(self) -> None:
        """Re-read the active keys of the database (the configured ones are kept)."""
        if self.pool is None:
            return
        async with self._reload_lock:
            rows = await self.pool.run(
                lambda conn: keystore.list_keys(conn, include_revoked=False),
                doing="reading the API keys",
            )
            self._keys = (*self.config.keys, *rows)

    async def save_last_use(self) -> None:
        """Write when keys were last used (batched: one transaction per reload interval)."""
        if self.pool is None or not self._used:
            return
        used, self._used = self._used, {}
        try:
            await self.pool.run(
                lambda conn: keystore.record_last_use(conn, used), doing="saving key last use"
            )
        except BaseException:
            for sha256, when in used.items():  # try again next time
                self._used.setdefault(sha256, when)
            raise

    def last_used(self, key: ApiKey) -> datetime | None:
        """When `key` was last used (this process's memory first, then the table's)."""
        return self._last_used.get(key.sha256, key.last_used_at)

    # -- authentication -------------------------------------------------------------------------

    async def authenticate(self, authorization: str | None, address: str, door: str) -> Caller:
        """The caller of a request whose `Authorization` value is `authorization`; raises
        Unauthenticated (missing or wrong key) or ClientRateLimited (too many wrong keys)."""
        host = client_host(address)
        if not self.enabled:
            return Caller.local(door, host)
        self._check_not_limited(host)
        digest = hash_key(_presented(authorization))
        found = self._match(digest)
        if found is None and self.pool is not None:
            found = await self._lookup(digest)
        return self._caller(found, host, door)

    async def _lookup(self, digest: str) -> ApiKey | None:
        """A key made since the last reload (wrong keys cost one indexed query each, and are
        limited per address)."""
        assert self.pool is not None
        try:
            found = await self.pool.run(
                lambda conn: keystore.active_key(conn, digest), doing="looking up an API key"
            )
        except TimeBaseError as exc:  # the database is down: the snapshot decides
            _log.warning("could not look up an API key: %s", exc.message)
            return None
        if found is not None:
            self._keys = (*self._keys, found)
        return found

    def authenticate_from_thread(
        self, authorization: str | None, address: str, door: str, timeout: float = 10.0
    ) -> Caller:
        """`authenticate` for a thread that is not the event loop's (Flight calls); auth off,
        without a trip to the loop."""
        if not self.enabled:
            return Caller.local(door, client_host(address))
        loop = self._loop
        if loop is None or loop.is_closed():
            raise Unauthenticated("TimeBase is not ready to authenticate requests")
        future = asyncio.run_coroutine_threadsafe(
            self.authenticate(authorization, address, door), loop
        )
        return future.result(timeout)

    def _check_not_limited(self, host: str) -> None:
        wait = self.failures.retry_after(host)
        if wait is not None:
            raise ClientRateLimited(
                f"too many failed authentication attempts from {host}: retry in "
                f"{math.ceil(wait)} s",
                retry_after=wait,
            )

    def _match(self, digest: str) -> ApiKey | None:
        found: ApiKey | None = None
        for candidate in self._keys:  # every key compared: the time does not depend on which
            if hmac.compare_digest(candidate.sha256, digest):
                found = candidate
        return found

    def _caller(self, found: ApiKey | None, host: str, door: str) -> Caller:
        if found is None:
            self.failures.failed(host)
            _log.warning(
                "authentication failed: invalid API key", extra={"client": host, "door": door}
            )
            raise Unauthenticated(INVALID_KEY)
        now = datetime.now(UTC)
        self._last_used[found.sha256] = now
        if found.source == "database":
            self._used[found.sha256] = now
        return Caller(found.scope, door, host, found.name, found.prefix)


def _presented(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise Unauthenticated(MISSING_KEY)
    key = bearer_token(authorization)
    if key is None:
        raise Unauthenticated(
            "malformed Authorization header: expected 'Bearer <key>' "
            "(an API key made by `timebase keys create`)"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise Unauthenticated(INVALID_KEY)
    return key


def client_host(address: str) -> str:
    """The host of a peer address: `ipv4:10.0.0.5:5123` (gRPC, Flight) → `10.0.0.5`,
    `ipv6:[::1]:5123` → `::1`; a plain host is kept."""
    value = address
    for scheme in ("ipv4:", "ipv6:"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
            if value.startswith("["):
                return value[1 : value.find("]")] if "]" in value else value
            return value.rsplit(":", 1)[0] if scheme == "ipv4:" else value
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is a loopback address."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
