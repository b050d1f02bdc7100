"""The hot tier's segments: ranges served from memory-mapped files at one series version, an
out-of-date segment dropped, least recently used evicted under the size bound, partial reads
never kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tests.store.conftest import T0, bars_table, minutes
from timebase.sdk.errors import ConfigError
from timebase.store import BAR_SCHEMA, SeriesKey
from timebase.store.hot_tier import HotTier

KEY = SeriesKey("AAPL", "1m", "test")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def keep(tier: HotTier, key: SeriesKey, table: pa.Table, version: int, chunk: int = 7) -> None:
    with tier.writer(key, T0, T0 + HOUR, version) as segment:
        for batch in table.to_batches(max_chunksize=chunk):
            segment.write(batch)
        segment.complete()


def rows(batches: list[pa.RecordBatch] | None) -> pa.Table:
    assert batches is not None
    return pa.Table.from_batches(batches, schema=BAR_SCHEMA)


@pytest.fixture
def tier(tmp_path: Path) -> HotTier:
    tier = HotTier(tmp_path / "hot", max_bytes=1 << 20)
    tier.open()
    return tier


def test_a_range_is_served_from_the_mapped_segment(tier: HotTier) -> None:
    table = bars_table(minutes(60), close=[float(i) for i in range(60)])
    keep(tier, KEY, table, version=3)
    whole = rows(tier.lookup(KEY, T0, T0 + HOUR, 3))
    assert whole.equals(table)
    # A range inside, across batch boundaries: exactly its rows.
    part = rows(tier.lookup(KEY, T0 + timedelta(minutes=5), T0 + timedelta(minutes=23), 3))
    assert part.column("close").to_pylist() == [float(i) for i in range(5, 23)]
    assert tier.stats.hits == 2
    # Outside the segment's range, or another series: a miss.
    assert tier.lookup(KEY, T0, T0 + 2 * HOUR, 3) is None
    assert tier.lookup(SeriesKey("MSFT", "1m", "test"), T0, T0 + HOUR, 3) is None
    assert tier.stats.misses == 2


def test_a_count_is_the_rows_a_lookup_gives_without_reading_them(tier: HotTier) -> None:
    keep(tier, KEY, bars_table(minutes(60)), version=3)
    assert tier.count(KEY, T0, T0 + HOUR, 3) == 60
    # Across batch boundaries (7 rows a batch), and an empty range inside the segment.
    assert tier.count(KEY, T0 + timedelta(minutes=5), T0 + timedelta(minutes=23), 3) == 18
    assert tier.count(KEY, T0 + timedelta(seconds=30), T0 + timedelta(seconds=40), 3) == 0
    # Not held: None; counts are not reads.
    assert tier.count(KEY, T0, T0 + 2 * HOUR, 3) is None
    assert (tier.stats.hits, tier.stats.misses) == (0, 0)
    # At another version: None, and the out-of-date segment is dropped.
    assert tier.count(KEY, T0, T0 + HOUR, 4) is None
    assert tier.stats.stale == 1
    assert len(tier) == 0


def keep_part(tier: HotTier, table: pa.Table, first: int, last: int, version: int) -> None:
    """Keep minutes [first, last) of `table` (one bar a minute from T0) as one segment."""
    with tier.writer(KEY, T0 + first * MINUTE, T0 + last * MINUTE, version) as segment:
        for batch in table.slice(first, last - first).to_batches(max_chunksize=7):
            segment.write(batch)
        segment.complete()


def test_adjacent_segments_together_serve_a_range_none_holds_alone(tier: HotTier) -> None:
    # A Flight read split into endpoints keeps one segment per endpoint: [0, 20), [20, 45),
    # [45, 60) minutes; a later read of the whole hour (or across a boundary) is served by them.
    table = bars_table(minutes(60), close=[float(i) for i in range(60)])
    for first, last in ((20, 45), (0, 20), (45, 60)):
        keep_part(tier, table, first, last, version=5)
    assert len(tier) == 3
    assert tier.count(KEY, T0, T0 + HOUR, 5) == 60
    assert rows(tier.lookup(KEY, T0, T0 + HOUR, 5)).equals(table)
    across = rows(tier.lookup(KEY, T0 + 15 * MINUTE, T0 + 50 * MINUTE, 5))
    assert across.column("close").to_pylist() == [float(i) for i in range(15, 50)]
    assert tier.count(KEY, T0 + 15 * MINUTE, T0 + 50 * MINUTE, 5) == 35
    assert tier.stats.hits == 2


def test_overlapping_segments_give_each_bar_once_and_a_gap_is_a_miss(tier: HotTier) -> None:
    table = bars_table(minutes(60), close=[float(i) for i in range(60)])
    keep_part(tier, table, 0, 30, version=5)
    keep_part(tier, table, 10, 40, version=5)
    keep_part(tier, table, 45, 60, version=5)
    through = rows(tier.lookup(KEY, T0, T0 + 40 * MINUTE, 5))
    assert through.column("close").to_pylist() == [float(i) for i in range(40)]
    # Minutes [40, 45) are in no segment: a range over them is not held.
    assert tier.count(KEY, T0, T0 + HOUR, 5) is None
    assert tier.lookup(KEY, T0 + 35 * MINUTE, T0 + 50 * MINUTE, 5) is None
    assert tier.stats.misses == 1


def test_segments_at_different_versions_never_chain(tier: HotTier) -> None:
    table = bars_table(minutes(60))
    keep_part(tier, table, 0, 30, version=5)
    keep_part(tier, table, 30, 60, version=6)  # written since: the older segment is dropped
    assert len(tier) == 1
    assert tier.lookup(KEY, T0, T0 + HOUR, 6) is None
    assert tier.count(KEY, T0 + 30 * MINUTE, T0 + HOUR, 6) == 30


def test_a_current_lookup_serves_a_hit_and_leaves_dropping_to_the_lookup(tier: HotTier) -> None:
    """`lookup_current` (on the event loop) gives what `lookup` gives at the same version, and
    None without touching a file when a segment at another version is to be dropped."""
    table = bars_table(minutes(60), close=[float(i) for i in range(60)])
    keep(tier, KEY, table, version=3)
    part = rows(tier.lookup_current(KEY, T0 + timedelta(minutes=5), T0 + timedelta(minutes=23), 3))
    assert part.column("close").to_pylist() == [float(i) for i in range(5, 23)]
    assert tier.lookup_current(KEY, T0, T0 + 2 * HOUR, 3) is None  # not held
    assert (tier.stats.hits, tier.stats.misses) == (1, 0)  # the miss is the lookup's to count
    # At another version: None, the segment and its file still there until `lookup` runs.
    assert tier.lookup_current(KEY, T0, T0 + HOUR, 4) is None
    assert len(tier) == 1
    assert len(list(tier.directory.iterdir())) == 1
    assert tier.lookup(KEY, T0, T0 + HOUR, 4) is None
    assert (tier.stats.stale, len(tier)) == (1, 0)
    assert list(tier.directory.iterdir()) == []


def test_a_segment_at_another_version_is_dropped(tier: HotTier) -> None:
    keep(tier, KEY, bars_table(minutes(10)), version=3)
    assert tier.lookup(KEY, T0, T0 + HOUR, 4) is None
    assert tier.stats.stale == 1
    assert len(tier) == 0
    assert tier.size == 0
    assert list(tier.directory.iterdir()) == []
    assert tier.lookup(KEY, T0, T0 + HOUR, 3) is None  # gone, not served to an older version


def test_an_empty_range_is_kept(tier: HotTier) -> None:
    with tier.writer(KEY, T0, T0 + HOUR, 0) as segment:
        segment.complete()
    assert rows(tier.lookup(KEY, T0, T0 + HOUR, 0)).num_rows == 0


def test_an_unfinished_or_failed_read_is_not_kept(tier: HotTier) -> None:
    table = bars_table(minutes(10))
    with tier.writer(KEY, T0, T0 + HOUR, 1) as segment:
        segment.write(table.to_batches()[0])  # the reader went away before the end

    def broken_read() -> None:
        with tier.writer(KEY, T0, T0 + HOUR, 1) as segment:
            segment.write(table.to_batches()[0])
            raise RuntimeError("the database connection broke")

    with pytest.raises(RuntimeError):
        broken_read()
    assert len(tier) == 0
    assert list(tier.directory.iterdir()) == []


def test_least_recently_used_segments_are_evicted_under_the_bound(tmp_path: Path) -> None:
    table = bars_table(minutes(60))
    probe = HotTier(tmp_path / "probe", max_bytes=1 << 20)
    probe.open()
    keep(probe, KEY, table, 1)
    one = probe.size
    tier = HotTier(tmp_path / "hot", max_bytes=3 * one)
    tier.open()
    keys = [SeriesKey(s, "1m", "test") for s in ("A", "B", "C", "D")]
    for key in keys[:3]:
        keep(tier, key, table, 1)
    assert tier.size == 3 * one
    assert tier.lookup(keys[0], T0, T0 + HOUR, 1) is not None  # A used: B is the oldest now
    keep(tier, keys[3], table, 1)
    assert tier.size <= tier.max_bytes
    assert len(tier) == 3
    assert tier.stats.evictions == 1
    assert tier.lookup(keys[1], T0, T0 + HOUR, 1) is None
    for key in (keys[0], keys[2], keys[3]):
        assert tier.lookup(key, T0, T0 + HOUR, 1) is not None
    assert len(list(tier.directory.iterdir())) == 3


def test_a_read_larger_than_the_bound_is_served_not_kept(tmp_path: Path) -> None:
    tier = HotTier(tmp_path / "hot", max_bytes=4096)
    tier.open()
    keep(tier, KEY, bars_table(minutes(600, step=timedelta(seconds=6))), 1)
    assert len(tier) == 0
    assert tier.stats.too_large == 1
    assert list(tier.directory.iterdir()) == []


def test_batches_outlive_their_evicted_segment(tier: HotTier) -> None:
    table = bars_table(minutes(30))
    keep(tier, KEY, table, 1)
    batches = tier.lookup(KEY, T0, T0 + HOUR, 1)
    assert tier.lookup(KEY, T0, T0 + HOUR, 2) is None  # dropped: its file unlinked
    assert rows(batches).equals(table)  # the mapping a reader holds stays valid


def test_open_clears_what_a_previous_run_left(tmp_path: Path) -> None:
    first = HotTier(tmp_path / "hot", max_bytes=1 << 20)
    first.open()
    keep(first, KEY, bars_table(minutes(5)), 1)
    second = HotTier(tmp_path / "hot", max_bytes=1 << 20)
    second.open()
    assert list((tmp_path / "hot").iterdir()) == []
    assert second.lookup(KEY, T0, T0 + HOUR, 1) is None


def test_a_wider_segment_replaces_those_it_contains(tier: HotTier) -> None:
    table = bars_table(minutes(60))
    with tier.writer(KEY, T0, T0 + HOUR / 2, 1) as segment:
        segment.write(table.slice(0, 30).to_batches()[0])
        segment.complete()
    keep(tier, KEY, table, 1)  # [T0, T0 + 1h)
    assert len(tier) == 1
    assert rows(tier.lookup(KEY, T0, T0 + HOUR / 2, 1)).equals(table.slice(0, 30))


def test_a_directory_that_cannot_be_used_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as err:
        HotTier(blocker / "hot", max_bytes=1 << 20).open()
    assert err.value.message.startswith(f"hot_tier.directory: cannot use {blocker / 'hot'}: ")
    assert err.value.message.endswith("(or turn the hot tier off: hot_tier.enabled: false)")


def test_a_current_lookup_chains_adjacent_segments_like_the_lookup(tier: HotTier) -> None:
    table = bars_table(minutes(60), close=[float(i) for i in range(60)])
    for first, last in ((0, 20), (20, 45), (45, 60)):
        keep_part(tier, table, first, last, version=5)
    across = rows(tier.lookup_current(KEY, T0 + 15 * MINUTE, T0 + 50 * MINUTE, 5))
    assert across.column("close").to_pylist() == [float(i) for i in range(15, 50)]
    assert rows(tier.lookup_current(KEY, T0, T0 + HOUR, 5)).equals(table)
    assert tier.stats.hits == 2
