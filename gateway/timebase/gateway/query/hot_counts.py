"""A plan's rows counted from the hot tier, so `GetFlightInfo` of a range already read asks the
database nothing but its one version lookup.

    rows = hot_count(tier, queries, snapshot)    # None: some range is not in the tier
    table = hot_table(tier, queries, snapshot)   # the bars themselves (derived plans count them)

`queries` are a plan's segment queries (one series range each) and `snapshot` the versions the
plan was made at (`timebase.store.metadata_cache`). A range counts only when a segment holds it
at the snapshot's version of its series: a series written since the snapshot (by this request's
own fetch) or unknown to it, or a range no segment holds, makes the answer None, and the caller
counts in the database as before. Blocking (a stale segment's file is removed): call on a thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from timebase.store import BAR_SCHEMA, BarQuery
from timebase.store.bars import SeriesKey
from timebase.store.hot_reads import series_of
from timebase.store.hot_tier import HotTier
from timebase.store.metadata_cache import VersionSnapshot


def hot_count(tier: HotTier, queries: Sequence[BarQuery], snap: VersionSnapshot) -> int | None:
    """The bars `queries` read, from the tier at `snap`'s versions, or None (see the module)."""
    parts = _versioned(queries, snap)
    if parts is None:
        return None
    total = 0
    for key, query, version in parts:
        rows = tier.count(key, query.start, query.end, version)
        if rows is None:
            return None
        total += rows
    return total


def hot_table(tier: HotTier, queries: Sequence[BarQuery], snap: VersionSnapshot) -> pa.Table | None:
    """The bars of `queries` from the tier at `snap`'s versions (zero-copy slices of the mapped
    segments), or None when one of them is not there (see the module)."""
    parts = _versioned(queries, snap)
    if parts is None:
        return None
    batches: list[pa.RecordBatch] = []
    for key, query, version in parts:
        found = tier.lookup(key, query.start, query.end, version)
        if found is None:
            return None
        batches += found
    return pa.Table.from_batches(batches, schema=BAR_SCHEMA)


def _versioned(
    queries: Sequence[BarQuery], snap: VersionSnapshot
) -> list[tuple[SeriesKey, BarQuery, int]] | None:
    """Each query with its series and that series' version in `snap`; None when a query is not
    one series' range or its series is unknown to the snapshot."""
    parts = []
    for query in queries:
        key = series_of(query)
        version = None if key is None else snap.version(key)
        if key is None or version is None:
            return None
        parts.append((key, query, version))
    return parts
