"""Rendered bar answers kept by origin: a repeated identical read is sent as the same bytes.

    rendered = RenderedAnswers()
    for message in rendered.render(table, "GetBars", lambda t: table_to_chunks(t, v1.GetBarsResponse)):
        yield message                  # serialized bytes when `table` has an origin, else messages

A table read from the hot tier carries its origin (`timebase.store.table_origins`: the series,
its version and the range), which identifies its content exactly. What a door renders from such
a table (the columnar chunks, the per-bar messages) is kept serialized under (origin, kind) and
sent again as is for the next read of the same origin; the next write of the series gives it a
new version, hence a new origin: an entry is never stale, it only goes unused until evicted.
Tables without an origin (cold answers, masks, derived or adjusted bars) are rendered each time.

Bounded by `max_bytes` of serialized messages in all and `max_entries` answers, least recently
used dropped first; an answer larger than a quarter of `max_bytes` is not kept. The gRPC
handlers send bytes as they are (`timebase.grpc.handlers`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import pyarrow as pa

from timebase.store.table_origins import origin_of

#: Defaults: a few hundred typical answers (a year of daily bars is about 13 KB as chunks).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 1024


class RenderedAnswers:
    """Serialized renderings of tables with an origin, least recently used dropped first."""

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[Hashable, str], tuple[list[bytes], int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def render(
        self, table: pa.Table, kind: str, build: Callable[[pa.Table], Iterable[Any]]
    ) -> Iterable[Any]:
        """The messages `build(table)` gives, as serialized bytes kept under (`table`'s origin,
        `kind`) when the table has an origin; `build`'s messages themselves otherwise."""
        origin = origin_of(table)
        if origin is None:
            return build(table)
        key = (origin, kind)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]
        self.misses += 1
        messages = [m.SerializeToString() for m in build(table)]
        size = sum(len(m) for m in messages)
        if size <= self.max_bytes // 4:
            self._entries[key] = (messages, size)
            self.bytes += size
            self._evict()
        return messages

    def _evict(self) -> None:
        while self._entries and (
            self.bytes > self.max_bytes or len(self._entries) > self.max_entries
        ):
            _, (_, size) = self._entries.popitem(last=False)
            self.bytes -= size
