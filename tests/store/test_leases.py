"""Per-series fetch leases across sessions (each `SeriesLeases` stands for one gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from adbc_driver_postgresql import dbapi

from tests.support.eventually import eventually
from timebase.sdk.errors import DatabaseError
from timebase.store.leases import LEASE_CLASS, SeriesLeases
from timebase.store.pool import ConnectionPool


@pytest.fixture
async def gateways(database_url: str) -> AsyncIterator[tuple[SeriesLeases, SeriesLeases]]:
    first, second = SeriesLeases(database_url), SeriesLeases(database_url)
    yield first, second
    await first.close()
    await second.close()


def _lease_holders(url: str) -> int:
    """Sessions holding a series lease now (from pg_locks)."""
    with dbapi.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            f"AND classid = {LEASE_CLASS} AND objsubid = 2"
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_a_series_lease_waits_for_the_other_gateway_and_others_do_not(
    gateways: tuple[SeriesLeases, SeriesLeases], database_url: str
) -> None:
    first, second = gateways
    order: list[str] = []

    async def take(leases: SeriesLeases, name: str, symbol: str) -> None:
        async with leases.hold(symbol, "1d"):
            order.append(name)

    async with first.hold("AAPL", "1d"):
        waiting = asyncio.create_task(take(second, "second AAPL", "AAPL"))
        await eventually(lambda: second.contended > 0, what="the second gateway waiting")
        # Another series is not held up by the first one's lease.
        await take(second, "second MSFT", "MSFT")
        assert order == ["second MSFT"]
        assert not waiting.done()
        assert await asyncio.to_thread(_lease_holders, database_url) == 1
        order.append("first AAPL done")
    await asyncio.wait_for(waiting, 10)
    assert order == ["second MSFT", "first AAPL done", "second AAPL"]
    assert await asyncio.to_thread(_lease_holders, database_url) == 0
    # The counters /metrics exports: the second gateway waited once (for AAPL, not MSFT).
    assert (first.granted, first.waited, first.wait_seconds) == (1, 0, 0.0)
    assert (second.granted, second.waited) == (2, 1)
    assert second.wait_seconds > 0


async def test_a_gateway_that_goes_away_releases_its_leases(
    gateways: tuple[SeriesLeases, SeriesLeases], database_url: str
) -> None:
    first, second = gateways
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold_forever() -> None:
        async with first.hold("AAPL", "1d"):
            entered.set()
            await release.wait()

    holder = asyncio.create_task(hold_forever())
    await entered.wait()

    # Its session ends (as when its process is killed): the server releases the lease.
    def terminate() -> None:
        with dbapi.connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                f"AND classid = {LEASE_CLASS} AND granted"
            )
            cur.fetchall()

    await asyncio.to_thread(terminate)
    async with asyncio.timeout(10), second.hold("AAPL", "1d"):
        pass
    release.set()
    await holder  # releasing over the lost connection is quiet
    # The first gateway reconnects at its next lease.
    async with asyncio.timeout(10), first.hold("AAPL", "1d"):
        assert await asyncio.to_thread(_lease_holders, database_url) == 1


async def test_a_request_cancelled_while_waiting_holds_nothing(
    gateways: tuple[SeriesLeases, SeriesLeases], database_url: str
) -> None:
    first, second = gateways

    async def take() -> None:
        async with second.hold("AAPL", "1d"):
            pass

    async with first.hold("AAPL", "1d"):
        waiting = asyncio.create_task(take())
        await eventually(lambda: second.contended > 0, what="the second gateway waiting")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert await asyncio.to_thread(_lease_holders, database_url) == 0
    assert (second.granted, second.waited) == (0, 1)  # a wait given up on is still a wait
    async with asyncio.timeout(10), first.hold("AAPL", "1d"):
        pass


async def test_an_unreachable_database_is_a_database_error_to_retry() -> None:
    leases = SeriesLeases("postgresql://timebase:s3cret@127.0.0.1:1/timebase")
    try:
        with pytest.raises(DatabaseError) as caught:
            async with leases.hold("AAPL", "1d"):
                pass
    finally:
        await leases.close()
    message = str(caught.value)
    assert message.startswith(
        "taking a series fetch lease: cannot connect to PostgreSQL at "
        "postgresql://timebase:***@127.0.0.1:1/timebase ("
    )
    assert "s3cret" not in message
    assert caught.value.retry_after == 2.0


async def test_while_the_pool_is_suspended_a_lease_fails_with_its_error(database_url: str) -> None:
    pool = ConnectionPool(database_url, size=1)
    leases = SeriesLeases(database_url, pool=pool)
    down = DatabaseError("the embedded PostgreSQL is restarting", retry_after=3.0)
    pool.suspend(down)
    with pytest.raises(DatabaseError) as caught:
        async with leases.hold("AAPL", "1d"):
            pass
    assert caught.value is down
    await pool.resume()
    async with leases.hold("AAPL", "1d"):
        pass
    await leases.close()
