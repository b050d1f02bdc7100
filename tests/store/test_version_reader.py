"""The version lookup on the event loop (`timebase.store.version_reader`): the versions the pool
would read, every committed write seen, and the pool's path whenever the reader cannot serve."""

from __future__ import annotations

import pytest

from tests.store.conftest import bars_table, minutes
from timebase.sdk.errors import DatabaseError
from timebase.store import SeriesKey, Store, version_reader
from timebase.store.pool import Connection
from timebase.store.versions import series_versions

pytestmark = pytest.mark.asyncio

AAPL = SeriesKey("AAPL", "1m", "test")
DAILY = SeriesKey("AAPL", "1d", "test")


async def pooled(store: Store) -> dict[SeriesKey, int]:
    return await store.pool.run(lambda conn: series_versions(conn, "AAPL", ["1m", "1d"]))


async def test_it_reads_the_versions_the_pool_reads_and_every_write_after(store: Store) -> None:
    reader = store.cached.version_reader
    began: list[bool] = []
    assert await reader.read("AAPL", ["1m", "1d"], lambda: began.append(True)) == {}
    await store.ingest(bars_table(minutes(3)))
    first = await reader.read("AAPL", ["1m", "1d"], lambda: began.append(True))
    assert first == await pooled(store)
    assert set(first or {}) == {AAPL}
    await store.ingest(bars_table(minutes(3), interval="1d"))
    await store.ingest(bars_table(minutes(2)))  # a new version of AAPL 1m
    second = await reader.read("AAPL", ["1d", "1m"], lambda: began.append(True))
    assert second == await pooled(store)
    assert second is not None
    assert first is not None
    assert second[AAPL] > first[AAPL]
    assert set(second) == {AAPL, DAILY}
    assert began == [True, True, True]
    assert reader.lookups == 3


async def test_a_snapshot_looks_its_versions_up_on_the_reader(store: Store) -> None:
    await store.ingest(bars_table(minutes(3)))
    before = store.cached.version_reader.lookups
    async with store.snapshot("aapl", ["1m"]) as snap:
        assert snap.version(AAPL) == (await pooled(store))[AAPL]
    assert store.cached.version_reader.lookups == before + 1


async def test_a_lost_connection_goes_through_the_pool_then_reconnects(store: Store) -> None:
    await store.ingest(bars_table(minutes(3)))
    reader = store.cached.version_reader
    assert await reader.read("AAPL", ["1m"], lambda: None) is not None

    def kill(conn: Connection) -> None:  # the server ends the reader's session
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND query LIKE '%FROM series_versions%'"
            )
            cur.fetchall()

    await store.pool.run(kill)
    assert await reader.read("AAPL", ["1m"], lambda: None) is None  # the pool's turn
    async with store.snapshot("AAPL", ["1m"]) as snap:  # answered all the same
        assert snap.version(AAPL) == (await pooled(store))[AAPL]
    assert await reader.read("AAPL", ["1m"], lambda: None) == await pooled(store)


async def test_a_busy_or_stopped_reader_leaves_the_lookup_to_the_pool(store: Store) -> None:
    await store.ingest(bars_table(minutes(3)))
    reader = store.cached.version_reader
    reader._busy = True  # another series' lookup under way
    try:
        assert await reader.read("AAPL", ["1m"], lambda: None) is None
        async with store.snapshot("AAPL", ["1m"]) as snap:
            assert snap.version(AAPL) == (await pooled(store))[AAPL]
    finally:
        reader._busy = False
    await reader.close()
    store.pool.suspend(DatabaseError("the database is down"))
    try:
        assert await reader.read("AAPL", ["1m"], lambda: None) is None
    finally:
        await store.pool.resume()
    assert await reader.read("AAPL", ["1m"], lambda: None) == await pooled(store)


async def test_a_failing_connect_is_not_tried_again_by_every_request(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While connecting fails, lookups go through the pool without each waiting for a connect;
    the reader tries again RECONNECT_AFTER seconds later."""
    await store.ingest(bars_table(minutes(3)))
    reader = store.cached.version_reader
    await reader.close()
    monkeypatch.setattr(store.pool, "url", "postgresql://127.0.0.1:1/nothing-listens-here")
    assert await reader.read("AAPL", ["1m"], lambda: None) is None
    assert reader.connects == 1
    for _ in range(3):  # no new attempt: straight to the pool
        assert await reader.read("AAPL", ["1m"], lambda: None) is None
        async with store.snapshot("AAPL", ["1m"]) as snap:
            assert snap.version(AAPL) == (await pooled(store))[AAPL]
    assert reader.connects == 1
    monkeypatch.undo()  # the server's own address again
    reader._connect_after -= version_reader.RECONNECT_AFTER  # the pause over
    assert await reader.read("AAPL", ["1m"], lambda: None) == await pooled(store)
    assert reader.connects == 2
