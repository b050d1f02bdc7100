"""Bounded provider fetches (no database): per client, overall, the queue timeout, and who a
caller counts as."""

from __future__ import annotations

import asyncio

import pytest

from timebase.auth import Caller, Scope
from timebase.gateway.fetch_limits import FetchLimiter, client_key, fetch_client
from timebase.sdk.errors import ServerBusy


async def hold(limiter: FetchLimiter, client: str, release: asyncio.Event) -> None:
    with fetch_client(client):
        async with limiter.slot():
            await release.wait()


async def test_each_client_gets_its_share_then_waits_then_is_told_to_retry() -> None:
    limiter = FetchLimiter(max_fetches=10, max_per_client=2, queue_timeout=0.2)
    release = asyncio.Event()
    holders = [asyncio.create_task(hold(limiter, "a", release)) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert limiter.running == 2
    with pytest.raises(ServerBusy) as err:
        await hold(limiter, "a", release)
    assert str(err.value) == (
        "too many provider fetches: at most 2 at once per client "
        "(gateway.max_fetches_per_client), and none became free within 0.2 s; try again later"
    )
    assert err.value.retry_after == 0.2
    # Another client is not held up by this one.
    other = asyncio.create_task(hold(limiter, "b", release))
    await asyncio.sleep(0.01)
    assert limiter.running == 3
    release.set()
    await asyncio.gather(*holders, other)
    assert limiter.running == 0


async def test_the_overall_bound_queues_every_client() -> None:
    limiter = FetchLimiter(max_fetches=2, max_per_client=2, queue_timeout=0.2)
    release = asyncio.Event()
    holders = [asyncio.create_task(hold(limiter, c, release)) for c in ("a", "b")]
    await asyncio.sleep(0.01)
    with pytest.raises(ServerBusy, match=r"at most 2 at once overall \(gateway.max_fetches\)"):
        await hold(limiter, "c", release)
    # A request that waits in line gets the slot as soon as one is free.
    waiting = asyncio.create_task(hold(limiter, "c", release))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*holders, waiting)
    assert limiter.running == 0


async def test_a_cancelled_waiter_leaves_the_line_without_taking_a_slot() -> None:
    limiter = FetchLimiter(max_fetches=1, max_per_client=1, queue_timeout=5.0)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(limiter, "a", release))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(hold(limiter, "a", release))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    assert limiter.running == 0
    # Both bounds are free again.
    await asyncio.wait_for(hold(limiter, "a", release), 1)


def test_who_a_caller_counts_as() -> None:
    assert client_key(Caller.local("grpc", "ipv4:127.0.0.1:50123")) == "127.0.0.1"
    assert client_key(Caller.local("grpc", "ipv6:[::1]:50123")) == "[::1]"
    assert client_key(Caller.local("rest", "10.0.0.7")) == "10.0.0.7"
    assert client_key(Caller.local("flight", "")) == "flight"
    keyed = Caller(Scope.READ, "rest", "10.0.0.7", key_name="robot", key_prefix="tb_1")
    assert client_key(keyed) == "key:robot"
