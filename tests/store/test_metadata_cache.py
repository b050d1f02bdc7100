"""Coverage, skipped ranges and the newest bars cached at a snapshot's series versions: served
without the database while the versions hold, read again once any store wrote the series."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.gateway.support import counting_connections
from tests.store.conftest import T0, bars_table, minutes
from timebase.store import Store, versions
from timebase.store.bars import SeriesKey
from timebase.store.coverage import TimeRange
from timebase.store.hot_tier import HotTier
from timebase.store.skipped import SkipReport

pytestmark = pytest.mark.asyncio

HOUR = timedelta(hours=1)


@pytest.fixture
async def other(fresh_database_url: str) -> AsyncIterator[Store]:
    """A second store (another gateway's) on the same database."""
    store = Store(fresh_database_url, pool_size=2, run_retention=False)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def reads(store: Store) -> tuple[object, ...]:
    covered = await store.covered_by_provider("AAPL", "1m", ["test"], T0, T0 + 2 * HOUR)
    skipped = await store.skipped_ranges("AAPL", "1m", ["test"], T0, T0 + 2 * HOUR)
    latest = await store.latest(["AAPL"], ["1m"])
    return covered, skipped, latest


async def write_second_hour(store: Store, reported: SkipReport | None = None) -> None:
    """AAPL 1m bars of `test` in [T0 + 1 h, T0 + 2 h): five stored, the hour covered."""
    await store.write_fetched(
        bars_table(minutes(5, start=T0 + HOUR)),
        "AAPL",
        "1m",
        "test",
        start=T0 + HOUR,
        end=T0 + 2 * HOUR,
        reported=reported,
    )


async def test_reads_at_unchanged_versions_come_from_memory(store: Store) -> None:
    await store.write_fetched(
        bars_table(minutes(5)),
        "AAPL",
        "1m",
        "test",
        start=T0,
        end=T0 + HOUR,
        reported=SkipReport(2, "bad high"),
    )
    async with store.snapshot("AAPL", ["1m"]):
        first = await reads(store)
    with counting_connections(store) as leases:
        async with store.snapshot("AAPL", ["1m"]):
            again = await reads(store)
    assert again == first
    assert len(leases) == 1  # the snapshot's version lookup
    covered, skipped, latest = first
    assert covered == {"test": [TimeRange(T0, T0 + HOUR)]}
    assert [(s.start, s.end, s.count) for s in skipped] == [(T0, T0 + HOUR, 2)]  # type: ignore[attr-defined]
    assert latest == {("AAPL", "1m", "test"): T0 + timedelta(minutes=4)}


@pytest.mark.parametrize("writer", ["same", "other"])
async def test_a_write_is_seen_by_the_next_snapshot(
    store: Store, other: Store, writer: str
) -> None:
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    async with store.snapshot("AAPL", ["1m"]):
        await reads(store)
    writing = store if writer == "same" else other
    await write_second_hour(writing, reported=SkipReport(1, "bad low"))
    async with store.snapshot("AAPL", ["1m"]):
        covered, skipped, latest = await reads(store)
    assert covered == {"test": [TimeRange(T0, T0 + 2 * HOUR)]}
    assert [(s.start, s.count) for s in skipped] == [(T0 + HOUR, 1)]  # type: ignore[attr-defined]
    assert latest == {("AAPL", "1m", "test"): T0 + HOUR + timedelta(minutes=4)}


async def test_a_write_inside_the_snapshot_is_read_back(store: Store) -> None:
    async with store.snapshot("AAPL", ["1m"]):
        assert await reads(store) == ({"test": []}, [], {})
        await store.write_fetched(
            bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR
        )
        covered, _, latest = await reads(store)
    assert covered == {"test": [TimeRange(T0, T0 + HOUR)]}
    assert latest == {("AAPL", "1m", "test"): T0 + timedelta(minutes=4)}


@pytest.mark.parametrize("writer", ["same", "other"])
async def test_coverage_read_under_the_series_lease_sees_a_write_made_after_the_snapshot(
    store: Store, other: Store, writer: str
) -> None:
    """A request's snapshot is taken before it waits for the series' lease; another request
    (here, or on another gateway) may fill the series meanwhile. What the request reads under
    the lease must include that fill, or it fetches the same range again."""
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    async with store.snapshot("AAPL", ["1m"]):
        assert (await reads(store))[0] == {"test": [TimeRange(T0, T0 + HOUR)]}  # now cached
        # Another request fills the next hour (outside this request's context).
        writing = store if writer == "same" else other
        await asyncio.create_task(write_second_hour(writing), context=contextvars.Context())
        async with store.leases.hold("AAPL", "1m"):
            covered, _, latest = await reads(store)
    assert covered == {"test": [TimeRange(T0, T0 + 2 * HOUR)]}
    assert latest == {("AAPL", "1m", "test"): T0 + HOUR + timedelta(minutes=4)}


async def test_a_hot_segment_out_of_date_is_dropped_off_the_event_loop(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """Reading a series whose kept segment is out of date removes that segment's file, file
    I/O the `blockbuster` fixture fails when it runs on the event loop; the new bars are read."""
    tier = HotTier(tmp_path / "hot", max_bytes=1 << 20)
    store = Store(fresh_database_url, pool_size=2, run_retention=False, hot_tier=tier)
    await store.start()
    try:
        for count in (5, 6):
            await store.write_fetched(
                bars_table(minutes(count)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR
            )
            async with store.snapshot("AAPL", ["1m"]):
                table = await store.read_table("AAPL", "1m", T0, T0 + HOUR, provider="test")
            assert table.num_rows == count
        assert (tier.stats.stale, len(tier)) == (1, 1)
    finally:
        await store.stop()


async def test_snapshots_asked_together_share_one_version_lookup(store: Store) -> None:
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    with counting_connections(store) as leases:
        snaps = await asyncio.gather(*(store.cached.snapshot("aapl", ["1m"]) for _ in range(20)))
    assert len(leases) == 1
    assert len({id(s) for s in snaps}) == 20  # each request its own snapshot, same versions
    assert {tuple(s.versions.items()) for s in snaps} == {tuple(snaps[0].versions.items())}
    assert list(snaps[0].versions) == [("AAPL", "1m", "test")]
    snaps[0].wrote(snaps[0].versions)  # one request's writes are its own
    assert snaps[1].version(next(iter(snaps[1].versions))) is not None


async def test_a_version_lookup_already_reading_is_not_joined_by_a_later_request(
    store: Store, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The later request may follow a write committed after the first lookup began: it reads
    the versions itself and sees that write."""
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    reading, release = threading.Event(), threading.Event()
    series_versions = versions.series_versions

    def held(*args: object) -> dict[SeriesKey, int]:
        found = series_versions(*args)  # type: ignore[arg-type]
        if not reading.is_set():  # the first lookup: held once it has read
            reading.set()
            release.wait(10)
        return found

    monkeypatch.setattr(versions, "series_versions", held)
    first = asyncio.create_task(store.cached.snapshot("AAPL", ["1m"]))
    await asyncio.to_thread(reading.wait, 10)
    await write_second_hour(other)
    second = asyncio.create_task(store.cached.snapshot("AAPL", ["1m"]))
    await asyncio.sleep(0.1)
    release.set()
    before, after = await first, await second
    key = SeriesKey("AAPL", "1m", "test")
    assert before.versions[key] < after.versions[key]
    async with store.snapshot("AAPL", ["1m"]):
        assert await store.latest(["AAPL"], ["1m"]) == {key: T0 + HOUR + timedelta(minutes=4)}


async def test_snapshots_of_several_series_asked_together_share_one_statement(
    store: Store,
) -> None:
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    await store.ingest(bars_table(minutes(3), symbol="MSFT"))
    await store.ingest(bars_table(minutes(2), interval="1d"))
    before = store.cached.batches
    with counting_connections(store) as leases:
        aapl, msft, daily = await asyncio.gather(
            store.cached.snapshot("aapl", ["1m"]),
            store.cached.snapshot("MSFT", ["1m"]),
            store.cached.snapshot("AAPL", ["1d"]),
        )
    assert (len(leases), store.cached.batches - before) == (1, 1)
    # Each snapshot holds its own series only, at the versions the database has.
    assert list(aapl.versions) == [SeriesKey("AAPL", "1m", "test")]
    assert list(msft.versions) == [SeriesKey("MSFT", "1m", "test")]
    assert list(daily.versions) == [SeriesKey("AAPL", "1d", "test")]
    pooled = await store.pool.run(lambda conn: versions.series_versions(conn, "AAPL", ["1m", "1d"]))
    assert {**aapl.versions, **daily.versions} == pooled


async def test_requests_arriving_while_a_lookup_reads_share_the_next_one_and_see_new_writes(
    store: Store, other: Store
) -> None:
    """Group commit: a request that arrives once a batch started reading waits for it to end,
    then joins the next batch with every request that arrived meanwhile (one statement, not one
    each through the pool); that batch sees a write committed while the first one read."""
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    reader = store.cached.version_reader
    original = reader.read
    sent: list[object] = []
    answered, release = asyncio.Event(), asyncio.Event()

    async def held(*args: object) -> dict[SeriesKey, int] | None:
        sent.append(args[0])
        found = await original(*args)  # type: ignore[arg-type]
        if len(sent) == 1:  # the first batch: read, then held before it answers
            answered.set()
            await release.wait()
        return found

    reader.read = held  # type: ignore[method-assign,assignment]
    try:
        first = asyncio.create_task(store.cached.snapshot("AAPL", ["1m"]))
        await asyncio.wait_for(answered.wait(), 10)
        await write_second_hour(other)  # committed after the first batch read
        later = [
            asyncio.create_task(store.cached.snapshot(symbol, ["1m"]))
            for symbol in ("AAPL", "AAPL", "MSFT")
        ]
        await asyncio.sleep(0.05)
        assert len(sent) == 1  # they wait for the next batch, none went through the pool
        release.set()
        before, *after = await asyncio.gather(first, *later)
    finally:
        reader.read = original  # type: ignore[method-assign]
    assert sent == [["AAPL"], ["AAPL", "MSFT"]]
    key = SeriesKey("AAPL", "1m", "test")
    pooled = await store.pool.run(lambda conn: versions.series_versions(conn, "AAPL", ["1m"]))
    assert before.versions[key] < pooled[key]
    assert [s.versions for s in after] == [pooled, pooled, {}]


async def test_the_requests_of_a_lookup_whose_sender_went_away_ask_again(store: Store) -> None:
    """The request sending a batch is cancelled (its client left) while the statement runs:
    the requests that joined its batch are not cancelled with it, they get their versions."""
    await store.write_fetched(bars_table(minutes(5)), "AAPL", "1m", "test", start=T0, end=T0 + HOUR)
    reader = store.cached.version_reader
    original = reader.read
    sent: list[object] = []
    reading = asyncio.Event()

    async def held(*args: object) -> dict[SeriesKey, int] | None:
        sent.append(args[0])
        if len(sent) == 1:  # the first statement never answers: its sender is cancelled
            reading.set()
            await asyncio.Event().wait()
        return await original(*args)  # type: ignore[arg-type]

    reader.read = held  # type: ignore[method-assign,assignment]
    try:
        sender, *joined = [
            asyncio.create_task(store.cached.snapshot(symbol, ["1m"]))
            for symbol in ("AAPL", "AAPL", "MSFT")
        ]
        await asyncio.wait_for(reading.wait(), 10)
        assert sent == [["AAPL", "MSFT"]]  # one batch of the three
        sender.cancel()
        aapl, msft = await asyncio.wait_for(asyncio.gather(*joined), 10)
    finally:
        reader.read = original  # type: ignore[method-assign]
    assert sender.cancelled()
    pooled = await store.pool.run(lambda conn: versions.series_versions(conn, "AAPL", ["1m"]))
    assert (aapl.versions, msft.versions) == (pooled, {})
    assert sent[1:] == [["AAPL", "MSFT"]]
