"""Series metadata cached in-process, validated by series version (`timebase.store.versions`).

    async with store.snapshot("AAPL", ["1d"]):     # one indexed lookup: the versions of AAPL 1d
        await store.latest(["AAPL"], ["1d"])       # cached at these versions: no database call
        await store.covered_by_provider(...)       # coverage, likewise
        await store.read_table(..., provider=p)    # bars from the hot tier, likewise

A snapshot holds the versions of one symbol's series at some intervals, looked up once when a
request starts (concurrent requests share a lookup that has not begun reading yet, one
statement for the series of all of them: `cached_reads`); it lives in a context variable, so the tasks the request starts see it too.
Coverage, skipped ranges and the newest stored bar of a series are cached with the version they
were read at (looked up *before* they were read) and served while the snapshot has that version.
A write made while the snapshot is open (a fetch the request started) makes its series unknown
to the snapshot: from then on they are read from the database. The series' fetch lease reads the
versions of its series again once granted (`refreshed`): what other requests wrote meanwhile is
seen under the lease. A series without a version row
was never written (version 0), like in `versions`.

The cache holds at most `max_entries` series (least recently used dropped first).

    with capturing() as opened:                    # the snapshots opened inside (and in the
        await history.get(request, read=False)     # tasks it starts), e.g. to count a plan's
    snapshot = opened[0]                           # rows from the hot tier at its versions
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from timebase.store.bars import SeriesKey
from timebase.store.versions import NO_VERSION

T = TypeVar("T")

#: Series kept at most by default (coverage, skipped ranges and latest entries each).
DEFAULT_MAX_ENTRIES = 10_000


@dataclass
class VersionSnapshot:
    """The versions of `symbol`'s series at `intervals`, as looked up once (see the module)."""

    symbol: str
    intervals: frozenset[str]
    versions: dict[SeriesKey, int]
    written: set[SeriesKey] = field(default_factory=set)
    written_intervals: set[str] = field(default_factory=set)

    def version(self, key: SeriesKey) -> int | None:
        """The version of `key` at the snapshot, or None when the snapshot cannot say."""
        if (
            key.symbol != self.symbol
            or key.interval not in self.intervals
            or key.interval in self.written_intervals
            or key in self.written
        ):
            return None
        return self.versions.get(key, NO_VERSION)

    def series(self, intervals: Iterable[str]) -> tuple[tuple[SeriesKey, int], ...] | None:
        """Every series of the symbol at `intervals` with its version (what the newest stored
        bars depend on), or None when the snapshot cannot say."""
        wanted = set(intervals)
        if not wanted <= self.intervals or wanted & self.written_intervals:
            return None
        if any(k.interval in wanted for k in self.written):
            return None
        return tuple(sorted((k, v) for k, v in self.versions.items() if k.interval in wanted))

    def wrote(self, keys: Iterable[SeriesKey]) -> None:
        self.written.update(keys)

    def refreshed(self, interval: str, found: dict[SeriesKey, int]) -> None:
        """The versions of the symbol's series at `interval` as looked up again now (under the
        series' fetch lease: `leases`), replacing those of the snapshot."""
        kept = {k: v for k, v in self.versions.items() if k.interval != interval}
        self.versions = {**kept, **found}


_SNAPSHOT: contextvars.ContextVar[VersionSnapshot | None] = contextvars.ContextVar(
    "timebase_series_versions", default=None
)


_OPENED: contextvars.ContextVar[list[VersionSnapshot] | None] = contextvars.ContextVar(
    "timebase_opened_snapshots", default=None
)


def current() -> VersionSnapshot | None:
    return _SNAPSHOT.get()


@contextlib.contextmanager
def capturing() -> Iterator[list[VersionSnapshot]]:
    """The snapshots opened inside the block and the tasks it starts (see the module doc). A
    snapshot the block did not open (a coalesced request's, opened by another caller) is not
    in the list: the caller then knows no versions."""
    opened: list[VersionSnapshot] = []
    token = _OPENED.set(opened)
    try:
        yield opened
    finally:
        _OPENED.reset(token)


def opened(snapshot: VersionSnapshot) -> None:
    """Tell `capturing` blocks that `snapshot` was opened (called by whoever opens one)."""
    found = _OPENED.get()
    if found is not None:
        found.append(snapshot)


def enter(snapshot: VersionSnapshot) -> contextvars.Token[VersionSnapshot | None]:
    return _SNAPSHOT.set(snapshot)


def leave(token: contextvars.Token[VersionSnapshot | None]) -> None:
    _SNAPSHOT.reset(token)


def forget(symbol: str, interval: str) -> None:
    """The current request's snapshot no longer vouches for `symbol`'s series at `interval`
    (they may have been written since it was taken: read them from the database)."""
    snapshot = _SNAPSHOT.get()
    if snapshot is not None and snapshot.symbol == symbol:
        snapshot.written_intervals.add(interval)


def wrote(keys: Iterable[SeriesKey]) -> None:
    """The current request wrote `keys`: its snapshot no longer knows their versions."""
    snapshot = _SNAPSHOT.get()
    if snapshot is not None:
        snapshot.wrote(keys)


class VersionedCache(Generic[T]):
    """Values keyed by anything hashable, each valid at one version (an LRU of `max_entries`)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Hashable, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable | None) -> T | None:
        if version is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, version: Hashable | None, value: T) -> None:
        if version is None:
            return
        with self._lock:
            self._entries[key] = (version, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
