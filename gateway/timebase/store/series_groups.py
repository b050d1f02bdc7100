"""The series of a bar batch, without pyarrow's query engine when the batch holds one series.

`Table.group_by` runs on Acero: its first call imports `pyarrow.acero` and `pyarrow.dataset`
and maps their libraries' pages, ≈ 4–6 MB of the gateway's resident memory for the rest of its
life (#14, docs/profiles.md "Memory"). A provider fetch stores one series per batch, so the
usual batch is answered with compute kernels (`count_distinct`, `min_max`) instead; a batch of
several series (a user's `DoPut` of many symbols) still groups with Acero, with the same result.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SERIES", "distinct_series", "one_series", "series_ranges"]

#: The columns that name a series.
SERIES = ("symbol", "interval", "provider")


def one_series(table: pa.Table) -> bool:
    """Whether the (non-empty) table holds one series: one value, no null, in each key column."""
    return table.num_rows > 0 and all(
        table[name].null_count == 0 and pc.count_distinct(table[name]).as_py() == 1
        for name in SERIES
    )


def distinct_series(table: pa.Table) -> pa.Table:
    """The distinct (symbol, interval, provider) rows of `table`, one per series."""
    keys = table.select(list(SERIES))
    if one_series(keys):
        return keys.slice(0, 1)
    return keys.group_by(list(SERIES)).aggregate([])


def series_ranges(table: pa.Table) -> list[dict[str, object]]:
    """Each series of the batch with its first and last timestamp (`timestamp_min`,
    `timestamp_max`), as `group_by(SERIES).aggregate` min and max would give them."""
    if not one_series(table):
        return list(
            table.group_by(list(SERIES))
            .aggregate([("timestamp", "min"), ("timestamp", "max")])
            .to_pylist()
        )
    bounds = pc.min_max(table["timestamp"])
    return [
        {
            "timestamp_min": bounds["min"].as_py(),
            "timestamp_max": bounds["max"].as_py(),
            **{name: table[name][0].as_py() for name in SERIES},
        }
    ]
