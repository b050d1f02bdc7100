"""Data ownership: who may write bars under which provider name.

Bars stored under a configured provider's slug (`configured_providers`: running, failed,
disabled or only configured) come from that add-on: symbol-centric reads serve them and coverage
keeps them from being fetched again. A user's put (Flight `DoPut`) may therefore not write under
such a name, unless an admin asks for it explicitly (`"override_provider": true`): with auth off
the local caller is an admin, and the explicit override is still needed. Every other name is an
imported data set; invalidating a range removes one only when it is named
(`HistoricalBars.invalidate`).

    summary = summarize(table)                 # symbols, providers, intervals, first/last bar
    check_put(summary.providers, configured, caller, override=False)   # raises when refused
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from timebase.auth import Caller, Scope
from timebase.sdk.errors import InvalidRequestError

#: At most this many symbols / providers are listed in an audit row's detail.
MAX_LISTED = 100


@dataclass(frozen=True)
class BatchSummary:
    """What a batch of bars is about (for the ownership check and the audit row)."""

    symbols: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    intervals: tuple[str, ...] = ()
    first: datetime | None = None
    last: datetime | None = None


def summarize(table: pa.Table) -> BatchSummary:
    """The distinct symbols (upper-cased), providers and intervals of `table`, its first and last
    bar; a column missing or of another type is left out (validation names it later). Blocking
    for big batches: run it off the event loop."""
    return BatchSummary(
        symbols=tuple(sorted({s.upper() for s in _distinct(table, "symbol")})),
        providers=tuple(sorted(_distinct(table, "provider"))),
        intervals=tuple(sorted(_distinct(table, "interval"))),
        first=_bound(table, "min"),
        last=_bound(table, "max"),
    )


def _distinct(table: pa.Table, name: str) -> set[str]:
    if name not in table.column_names or table.num_rows == 0:
        return set()
    column = table[name]
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        if not pa.types.is_dictionary(column.type):
            return set()
        column = column.cast(pa.string())
    return {v for v in pc.unique(column).to_pylist() if isinstance(v, str)}


def _bound(table: pa.Table, which: str) -> datetime | None:
    if "timestamp" not in table.column_names or table.num_rows == 0:
        return None
    column = table["timestamp"]
    if not pa.types.is_timestamp(column.type) or column.type.tz is None:
        return None
    value = (pc.min if which == "min" else pc.max)(column).as_py()
    return value if isinstance(value, datetime) else None


def check_put(
    providers: Collection[str], configured: Collection[str], caller: Caller, *, override: bool
) -> None:
    """Refuse a put under a configured provider's name (InvalidRequestError on `provider`),
    unless `override` is set by a caller with the admin scope (PermissionDenied otherwise)."""
    owned = sorted(set(providers) & set(configured))
    if not owned:
        return
    names = ", ".join(repr(p) for p in owned)
    if not override:
        one = len(owned) == 1
        what = "is a configured provider: its" if one else "are configured providers: their"
        raise InvalidRequestError(
            f"provider: {names} {what} bars come from the add-on and a put would "
            "overwrite them, so nothing was written; put the batch under a name of your own "
            f'(e.g. "{owned[0]}-import"), or, with an admin key, set "override_provider": true '
            "in the descriptor",
            field="provider",
            provider=owned[0],
            providers=owned,
        )
    caller.require(Scope.ADMIN, f"writing under the configured provider {names}")
