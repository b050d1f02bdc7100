"""Bars in and out of the `timebase` command: CSV, JSON and Parquet files, the terminal table,
and the bar files `timebase ingest` reads (date-only timestamps: 00:00 UTC)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc

from timebase.core.user_time import parse_user_time
from timebase.sdk.errors import InvalidDataError, TimeBaseError

_SHOWN = ("symbol", "timestamp", "open", "high", "low", "close", "volume", "provider")


class UsageError(Exception):
    """A mistake in the command line (exit code 2)."""


def write_file(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "csv":
        path.write_text(to_csv(table), encoding="utf-8")
    else:
        path.write_text(to_json(table) + "\n", encoding="utf-8")


def _iso_timestamps(table: pa.Table) -> pa.Table:
    index = table.column_names.index("timestamp")
    seconds = table["timestamp"].cast(pa.timestamp("s", tz="UTC"), safe=False)  # bars: no µs
    text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    return table.set_column(index, "timestamp", text)


def to_csv(table: pa.Table) -> str:
    """`table` as CSV with a header; timestamps as RFC 3339 UTC (`2024-01-02T00:00:00Z`)."""
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    options = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(_iso_timestamps(table), buffer, options)
    return buffer.getvalue().decode("utf-8")


def to_json(table: pa.Table) -> str:
    """`table` as a JSON array of bar objects (metadata parsed back into an object)."""
    rows = _iso_timestamps(table).to_pylist()
    for row in rows:
        meta = row.get("metadata")
        row["metadata"] = json.loads(meta) if meta else None
    return json.dumps(rows)


def print_table(table: pa.Table, out: TextIO) -> None:
    if table.num_rows == 0:
        print("no bars", file=out)
        return
    shown = _iso_timestamps(table.select(list(_SHOWN)))
    columns = [[_cell(v) for v in shown[name].to_pylist()] for name in _SHOWN]
    widths = [
        max(len(name), *(len(c) for c in col)) for name, col in zip(_SHOWN, columns, strict=True)
    ]
    numeric = {"open", "high", "low", "close", "volume"}

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if name in numeric else c.ljust(w)
            for name, c, w in zip(_SHOWN, cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(list(_SHOWN)), file=out)
    for i in range(table.num_rows):
        print(line([col[i] for col in columns]), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e12 else f"{value:.{_decimals(value)}f}"
    return str(value)


def _decimals(value: float) -> int:
    text = repr(value)
    if "e" in text or "." not in text:
        return 2
    return max(2, min(8, len(text.split(".")[1])))


# -- providers, symbols ---------------------------------------------------------------------


def print_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def read_bars_file(path: Path) -> pa.Table:
    """A CSV or Parquet file of bars as a table (date-only timestamps: 00:00 UTC)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
    else:
        raise UsageError(f"file: {path.name!r} must be a .csv or .parquet file")
    if "timestamp" in table.column_names:
        index = table.column_names.index("timestamp")
        table = table.set_column(index, "timestamp", _timestamps(table["timestamp"]))
    return table


_UTC_US = pa.timestamp("us", tz="UTC")


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dates (00:00 UTC), naive datetimes (UTC) and ISO 8601 text as timestamp[us, UTC]."""
    kind = column.type
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("us")).cast(_UTC_US)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return column
    for target in (_UTC_US, pa.timestamp("us")):
        try:
            return column.cast(target).cast(_UTC_US)
        except pa.ArrowInvalid:
            continue
    values = []
    for row, text in enumerate(column.to_pylist()):  # mixed forms: the slow, exact path
        try:
            values.append(None if text is None else parse_user_time(text, field="timestamp"))
        except TimeBaseError as exc:
            raise InvalidDataError(
                f"row {row}, column 'timestamp': {exc.message}; nothing was written",
                row=row,
                column="timestamp",
            ) from None
    return pa.chunked_array([pa.array(values, _UTC_US)])
