"""Where a table of bars came from, for caches of what is built from it (`timebase.grpc.rendered`).

    tag(table, ("bars", key, version, start, end))   # the store read of `key` at `version`
    origin_of(table)                                  # that origin, for this very table object

An origin identifies a table's content exactly: the bars of one series in [start, end) at one
series version (`timebase.store.versions`: a version is never seen again for another state of
its series). It belongs to the table object it was given to, for as long as that object lives:
a table derived from it (sliced, filtered, concatenated, adjusted) is another object, without an
origin. Tables are immutable, so whatever is built from a tagged table is built from its origin.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable

import pyarrow as pa

#: id(table) → (a weak reference to the table, its origin). Arrow tables are unhashable, hence
#: ids; the weak reference tells a live table from a new one that reuses a dead table's id.
_ORIGINS: dict[int, tuple[weakref.ref[pa.Table], Hashable]] = {}


def tag(table: pa.Table, origin: Hashable) -> None:
    """Record that `table` holds exactly the bars `origin` identifies."""
    key = id(table)

    def forget(ref: weakref.ref[pa.Table]) -> None:
        entry = _ORIGINS.get(key)
        if entry is not None and entry[0] is ref:
            del _ORIGINS[key]

    _ORIGINS[key] = (weakref.ref(table, forget), origin)


def origin_of(table: pa.Table) -> Hashable | None:
    """The origin `table` was tagged with, or None (never tagged, or built from a tagged one)."""
    entry = _ORIGINS.get(id(table))
    if entry is None or entry[0]() is not table:
        return None
    return entry[1]


def tagged() -> int:
    """How many live tables have an origin (for tests: tags do not outlive their tables)."""
    return sum(1 for ref, _ in _ORIGINS.values() if ref() is not None)
