from __future__ import annotations

import asyncio
import time

import pytest

from timebase.sdk.errors import DatabaseBusy, DatabaseError
from timebase.store import ConnectionPool, redact_url


def test_redact_url():
    assert redact_url("postgresql://bob:s3cret@db:5432/tb") == "postgresql://bob:***@db:5432/tb"
    assert redact_url("postgresql://bob@db/tb?password=s3cret&sslmode=require") == (
        "postgresql://bob@db/tb?password=***&sslmode=require"
    )
    assert redact_url("postgresql://db/tb") == "postgresql://db/tb"


async def test_connection_refused_names_the_url_without_password():
    pool = ConnectionPool("postgresql://bob:s3cret@127.0.0.1:1/tb", size=1)
    with pytest.raises(DatabaseError) as caught:
        await pool.start()
    message = caught.value.message
    assert message.startswith("cannot connect to PostgreSQL at postgresql://bob:***@127.0.0.1:1/tb")
    assert "s3cret" not in message
    assert not pool.running


async def test_driver_errors_become_database_errors(fresh_database_url):
    pool = ConnectionPool(fresh_database_url, size=2)
    await pool.start()
    try:

        def divide(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT 1/0")
                return cur.fetchall()

        with pytest.raises(DatabaseError, match=r"dividing: .*division by zero") as caught:
            await pool.run(divide, doing="dividing")
        assert caught.value.details["sqlstate"] == "22012"

        def one(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchall()

        # The connection is usable again, and the pool serves more callers than it has connections.
        results = await asyncio.gather(*(pool.run(one) for _ in range(10)))
        assert results == [[(1,)]] * 10
    finally:
        await pool.stop()
    with pytest.raises(DatabaseError, match="not running"):
        await pool.run(one)


async def test_waiting_for_a_connection_is_bounded(fresh_database_url):
    pool = ConnectionPool(fresh_database_url, size=1, acquire_timeout=0.2)
    await pool.start()
    try:
        async with pool.connection():
            assert pool.in_use == 1
            with pytest.raises(DatabaseBusy) as caught:
                await pool.run(lambda conn: None)
        assert caught.value.message == (
            "no database connection became free within 0.2 s (all 1 in use; database.pool_size, "
            "database.acquire_timeout_seconds); try again later"
        )
        assert (caught.value.code, caught.value.retry_after) == ("DATABASE_BUSY", 0.2)
        assert pool.in_use == 0
        assert await pool.run(lambda conn: 7) == 7  # free again
    finally:
        await pool.stop()


async def test_a_cancelled_query_gives_its_connection_back_only_when_its_thread_is_done(
    fresh_database_url,
):
    pool = ConnectionPool(fresh_database_url, size=1)
    await pool.start()
    try:
        finished: list[float] = []

        def sleep(conn):
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(0.5)")
                cur.fetchall()
            finished.append(time.monotonic())

        task = asyncio.create_task(pool.run(sleep))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cancellation waited for the statement: nobody else got the connection meanwhile.
        assert len(finished) == 1
        assert pool.in_use == 0
        assert await pool.run(lambda conn: "reused") == "reused"
    finally:
        await pool.stop()


async def test_waiting_counts_callers_queued_for_a_connection(fresh_database_url):
    pool = ConnectionPool(fresh_database_url, size=1)
    await pool.start()
    try:
        assert pool.waiting == 0
        async with pool.connection():
            queued = [asyncio.create_task(pool.run(lambda conn: None)) for _ in range(2)]
            for _ in range(5):
                await asyncio.sleep(0)
            assert pool.waiting == 2
        await asyncio.gather(*queued)
        assert pool.waiting == 0
    finally:
        await pool.stop()
