"""Blocking bar reads that go through the hot tier (`timebase.store.hot_tier`).

    with store.thread_reader(call, release) as reader:   # a HotBarReader when the tier is on
        reader.prepare(queries)                          # one version lookup for all of them
        for batch in reader.batches(query): ...          # mapped segment, or the database

A query of one symbol from one provider is a series range: served from a segment read at the
series' current version, else read from the database (a connection leased only then) while a
segment is written, kept if the read completes. The versions are looked up before any data is
read, so a segment is never tagged with a version newer than its bars: at worst it is out of date
at once and read again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa

from timebase.store.bars import BarQuery, SeriesKey
from timebase.store.hot_tier import HotTier
from timebase.store.schema import BAR_SCHEMA
from timebase.store.thread_reads import ThreadBarReader
from timebase.store.versions import NO_VERSION

#: Look up the current versions of series (one database round trip, from a reading thread).
VersionLookup = Callable[[list[SeriesKey]], dict[SeriesKey, int]]


def series_of(query: BarQuery) -> SeriesKey | None:
    """The one series `query` reads whole, or None (several symbols, any provider, a limit)."""
    if len(query.symbols) != 1 or query.provider is None or query.limit is not None:
        return None
    return SeriesKey(query.symbols[0], query.interval.value, query.provider)


class HotBarReader:
    """`ThreadBarReader`'s reads through the hot tier (see the module docstring)."""

    def __init__(
        self,
        tier: HotTier,
        versions: VersionLookup,
        open_reader: Callable[[], contextlib.AbstractContextManager[ThreadBarReader]],
    ) -> None:
        self._tier = tier
        self._lookup = versions
        self._open_reader = open_reader
        self._versions: dict[SeriesKey, int] = {}
        self._known: set[SeriesKey] = set()
        self._stack = contextlib.ExitStack()
        self._reader: ThreadBarReader | None = None

    def __enter__(self) -> HotBarReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def prepare(self, queries: Iterable[BarQuery]) -> None:
        """Look up the versions of the series `queries` read, in one round trip."""
        keys = [k for k in (series_of(q) for q in queries) if k is not None]
        missing = [k for k in keys if k not in self._known]
        if missing:
            self._versions.update(self._lookup(missing))
            self._known.update(missing)

    def batches(self, query: BarQuery) -> Iterator[pa.RecordBatch]:
        key = series_of(query)
        if key is None:
            yield from self._database().batches(query)
            return
        self.prepare([query])
        version = self._versions.get(key, NO_VERSION)
        hit = self._tier.lookup(key, query.start, query.end, version)
        if hit is not None:
            yield from hit
            return
        with self._tier.writer(key, query.start, query.end, version) as segment:
            for batch in self._database().batches(query):
                segment.write(batch)
                yield batch
            segment.complete()

    def table(self, queries: list[BarQuery]) -> pa.Table:
        self.prepare(queries)
        return pa.Table.from_batches(
            [b for q in queries for b in self.batches(q)], schema=BAR_SCHEMA
        )

    def _database(self) -> ThreadBarReader:
        if self._reader is None:
            self._reader = self._stack.enter_context(self._open_reader())
        return self._reader
