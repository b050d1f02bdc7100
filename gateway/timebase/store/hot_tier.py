"""The hot tier: recently read series ranges kept as uncompressed Arrow IPC files, memory-mapped.

    tier = HotTier(directory, max_bytes=1 << 30)
    tier.open()                                          # creates the directory, clears old files
    batches = tier.lookup(key, start, end, version)      # record batches of the mapped file, or None
    rows = tier.count(key, start, end, version)          # how many bars lookup would give, or None
    with tier.writer(key, start, end, version) as w:     # while a cold read streams
        w.write(batch)                                   # kept only if the read completes
    tier.close()

A segment holds every stored bar of one series (`SeriesKey`) in a half-open range [start, end),
as the store read it at one series version (`timebase.store.versions`). A lookup serves a range
held by one segment, or by adjacent segments together (a Flight read split into endpoints keeps
one per endpoint), only when the caller's version is theirs, so a segment is never served after
a committed write of its series; a segment found out of date is dropped. Record batches
are slices of the memory-mapped file: the OS page cache does the caching, the process copies
nothing. The files together stay under `max_bytes`, least recently used first out; a read larger
than that is served and not kept. Files are the process's own (the directory is cleared at open):
give each gateway its own directory.

Thread-safe: Flight serves calls on many threads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa

from timebase.sdk.errors import ConfigError
from timebase.store.bars import SeriesKey
from timebase.store.schema import BAR_SCHEMA

_log = logging.getLogger(__name__)

_SUFFIX = ".arrow"
_PREFIX = "seg-"


@dataclass
class _Segment:
    key: SeriesKey
    start: datetime
    end: datetime
    version: int
    path: Path
    size: int
    batches: list[pa.RecordBatch] = field(repr=False)
    #: First and last bar start of each batch, microseconds since the epoch (batches ascend).
    firsts: np.ndarray = field(repr=False)


@dataclass
class HotTierStats:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    evictions: int = 0
    too_large: int = 0


class HotTier:
    """Memory-mapped Arrow segments of series ranges; see the module docstring."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.stats = HotTierStats()
        self._segments: OrderedDict[int, _Segment] = OrderedDict()  # least recently used first
        self._by_key: dict[SeriesKey, set[int]] = {}
        self._size = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory and remove the segment files a previous run left."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path in self.directory.glob(f"{_PREFIX}*"):
                path.unlink()
        except OSError as exc:
            raise ConfigError(
                f"hot_tier.directory: cannot use {self.directory}: {exc.strerror or exc} "
                "(or turn the hot tier off: hot_tier.enabled: false)"
            ) from None

    def close(self) -> None:
        with self._lock:
            for segment in self._segments.values():
                _unlink(segment.path)
            self._segments.clear()
            self._by_key.clear()
            self._size = 0

    @property
    def size(self) -> int:
        """Bytes of the segment files kept now."""
        return self._size

    def __len__(self) -> int:
        return len(self._segments)

    # -- reads --------------------------------------------------------------------------------

    def lookup(
        self, key: SeriesKey, start: datetime, end: datetime, version: int
    ) -> list[pa.RecordBatch] | None:
        """The bars of `key` in [start, end) from the segments holding the range at `version`
        (one, or adjacent ones together: a Flight read split into endpoints keeps one segment
        per endpoint), or None (a miss). Segments of `key` at another version are dropped."""
        with self._lock:
            found = self._find(key, start, end, version)
            if found is None:
                self.stats.misses += 1
                return None
            for sid, _ in found:
                self._segments.move_to_end(sid)
            self.stats.hits += 1
        return _pieces(found, start, end)

    def lookup_current(
        self, key: SeriesKey, start: datetime, end: datetime, version: int
    ) -> list[pa.RecordBatch] | None:
        """`lookup` without file I/O, for the event loop: None (nothing counted) also when a
        segment of `key` at another version is to be dropped; then call `lookup` in a thread."""
        with self._lock:
            if any(self._segments[sid].version != version for sid in self._by_key.get(key, ())):
                return None
            found = self._find(key, start, end, version)  # every segment at `version`: no drop
            if found is None:
                return None
            for sid, _ in found:
                self._segments.move_to_end(sid)
            self.stats.hits += 1
        return _pieces(found, start, end)

    def count(self, key: SeriesKey, start: datetime, end: datetime, version: int) -> int | None:
        """How many bars `lookup` gives for the same arguments (binary searches of the mapped
        timestamps, nothing copied), or None when the segments do not hold the range at
        `version`. Counts are not reads: the read statistics and the recency order stay."""
        with self._lock:
            found = self._find(key, start, end, version)
        if found is None:
            return None
        return sum(int(b.num_rows) for b in _pieces(found, start, end))

    def keep_table(
        self, key: SeriesKey, start: datetime, end: datetime, version: int, table: pa.Table
    ) -> None:
        """Keep `table`, the bars of `key` in [start, end) read at `version` (blocking I/O)."""
        with self.writer(key, start, end, version) as segment:
            for batch in table.to_batches():
                segment.write(batch)
            segment.complete()

    def writer(self, key: SeriesKey, start: datetime, end: datetime, version: int) -> SegmentWriter:
        """A writer of the segment of `key` over [start, end) read at `version`."""
        sid = next(self._ids)
        path = self.directory / f"{_PREFIX}{os.getpid()}-{sid}{_SUFFIX}"
        return SegmentWriter(self, sid, _Segment(key, start, end, version, path, 0, [], _EMPTY))

    # -- internals ----------------------------------------------------------------------------

    def _find(
        self, key: SeriesKey, start: datetime, end: datetime, version: int
    ) -> list[tuple[int, _Segment]] | None:
        """The segments of `key` at `version` that together hold [start, end), in time order
        (lock held), or None; segments of `key` at another version are dropped. All segments of
        one series at one version hold the same stored bars, so adjacent ones chain."""
        current: list[tuple[int, _Segment]] = []
        for sid in sorted(self._by_key.get(key, ())):
            segment = self._segments[sid]
            if segment.version != version:
                self._drop(sid)
                self.stats.stale += 1
            else:
                current.append((sid, segment))
        if end <= start:  # an empty range: held by any segment around it
            inside = [c for c in current if c[1].start <= start and end <= c[1].end]
            return inside[:1] or None
        chain: list[tuple[int, _Segment]] = []
        cursor = start
        while cursor < end:
            # The segment holding `cursor` that reaches furthest (the oldest of equals).
            holding = [c for c in current if c[1].start <= cursor < c[1].end]
            if not holding:
                return None
            best = max(holding, key=lambda c: (c[1].end, -c[0]))
            chain.append(best)
            cursor = best[1].end
        return chain

    def _keep(self, sid: int, segment: _Segment) -> None:
        with self._lock:
            for old in list(self._by_key.get(segment.key, ())):  # what the new one replaces
                kept = self._segments[old]
                if kept.version != segment.version or (
                    segment.start <= kept.start and kept.end <= segment.end
                ):
                    self._drop(old)
            self._segments[sid] = segment
            self._by_key.setdefault(segment.key, set()).add(sid)
            self._size += segment.size
            while self._size > self.max_bytes and self._segments:
                oldest = next(iter(self._segments))
                self._drop(oldest)
                self.stats.evictions += 1

    def _drop(self, sid: int) -> None:
        segment = self._segments.pop(sid)
        same = self._by_key[segment.key]
        same.discard(sid)
        if not same:
            del self._by_key[segment.key]
        self._size -= segment.size
        _unlink(segment.path)  # readers of its batches keep their mapping


class SegmentWriter:
    """Writes one segment while its bars stream; kept at `__exit__` only without an error, after
    `complete()` and within the size bound."""

    def __init__(self, tier: HotTier, sid: int, segment: _Segment) -> None:
        self._tier = tier
        self._sid = sid
        self._segment = segment
        self._partial = segment.path.with_suffix(".part")
        self._sink: pa.OSFile | None = None
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._complete = False
        self._dropped = False

    def __enter__(self) -> SegmentWriter:
        return self

    def write(self, batch: pa.RecordBatch) -> None:
        """Add `batch`; a segment that cannot be written (a full disk) is given up, quietly:
        the read goes on."""
        if self._dropped:
            return
        try:
            if self._writer is None:
                self._sink = pa.OSFile(str(self._partial), "wb")
                self._writer = pa.ipc.new_file(self._sink, BAR_SCHEMA)
            self._writer.write_batch(batch)
            assert self._sink is not None
            written = self._sink.tell()
        except OSError:
            _log.warning("could not write a hot tier segment", exc_info=True)
            self._discard()
            return
        if written > self._tier.max_bytes:
            self._tier.stats.too_large += 1
            self._discard()

    def complete(self) -> None:
        """The read finished: every bar of the range was written."""
        self._complete = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or not self._complete or self._dropped:
            self._discard()
            return
        try:
            self._keep()
        except OSError:  # a full disk, a removed directory: the read was served, nothing kept
            _log.warning("could not keep a hot tier segment", exc_info=True)
            self._discard()

    def _keep(self) -> None:
        if self._writer is None:  # nothing stored in the range: an empty segment
            self.write(pa.RecordBatch.from_pylist([], schema=BAR_SCHEMA))
        assert self._writer is not None
        assert self._sink is not None
        self._writer.close()
        self._sink.close()
        segment = self._segment
        os.replace(self._partial, segment.path)
        with pa.memory_map(str(segment.path), "r") as source:
            reader = pa.ipc.open_file(source)
            segment.batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        segment.size = segment.path.stat().st_size
        segment.firsts = np.array([_first_micros(b) for b in segment.batches], dtype=np.int64)
        self._tier._keep(self._sid, segment)

    def _discard(self) -> None:
        self._dropped = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._sink is not None:
            with contextlib.suppress(Exception):
                self._sink.close()
        _unlink(self._partial)


_EMPTY = np.zeros(0, dtype=np.int64)


def _micros(when: datetime) -> int:
    delta = when - datetime.fromtimestamp(0, when.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _ts(batch: pa.RecordBatch) -> np.ndarray:
    column = batch.column(1)  # "timestamp", timestamp[us, UTC], never null
    return np.frombuffer(column.buffers()[1], dtype=np.int64, count=len(column) + column.offset)[
        column.offset :
    ]


def _first_micros(batch: pa.RecordBatch) -> int:
    return int(_ts(batch)[0]) if batch.num_rows else np.iinfo(np.int64).max


def _pieces(
    found: list[tuple[int, _Segment]], start: datetime, end: datetime
) -> list[pa.RecordBatch]:
    """The rows in [start, end) of chained segments: each gives its part of the range, from where
    the one before it ends, so no bar is given twice."""
    out: list[pa.RecordBatch] = []
    cursor = start
    for _, segment in found:
        stop = min(end, segment.end)
        out += _slice(segment, _micros(cursor), _micros(stop))
        cursor = stop
    return out


def _slice(segment: _Segment, start: int, end: int) -> list[pa.RecordBatch]:
    """The rows of `segment` with start <= timestamp < end: zero-copy slices of its batches."""
    out: list[pa.RecordBatch] = []
    first = max(int(np.searchsorted(segment.firsts, start, side="right")) - 1, 0)
    for batch in segment.batches[first:]:
        if not batch.num_rows:
            continue
        ts = _ts(batch)
        if ts[0] >= end:
            break
        lo = int(np.searchsorted(ts, start, side="left"))
        hi = int(np.searchsorted(ts, end, side="left"))
        if hi > lo:
            out.append(batch.slice(lo, hi - lo))
    return out


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
