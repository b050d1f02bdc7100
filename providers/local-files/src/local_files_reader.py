"""Reading OHLCV files into one normalised Arrow table per file (vectorised, pyarrow only).

A normalised table has the columns ``timestamp`` (timestamp[us, UTC], the bar start), ``open
high low close volume`` (float64) and ``metadata`` (JSON object strings or null), sorted by
timestamp. Rows with a missing timestamp or price are dropped; a missing volume becomes 0.

Timestamps:

- with an offset (``2024-01-02 09:30:00-05:00``, ``…Z``) or a timezone-aware Parquet type: the
  offset is honoured and the instant converted to UTC;
- naive: read in the configured timezone (default UTC);
- integers: seconds, milliseconds, microseconds or nanoseconds since the epoch (by magnitude);
- daily, weekly and monthly files are keyed by DATE: 00:00 UTC of the calendar date written in
  the file (for an aware timestamp, the date in its own timezone), never by shifting an instant.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from timebase.sdk import batch_schema

UTC_US = pa.timestamp("us", tz="UTC")
F64 = pa.float64()
SCHEMA = batch_schema()

#: Accepted column spellings (compared lower-case, with '_' and '-' read as spaces).
ALIASES: Mapping[str, tuple[str, ...]] = {
    "timestamp": (
        "timestamp",
        "datetime",
        "date",
        "time",
        "ts",
        "date time",
        "__index_level_0__",
    ),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adj close", "adjclose", "adjusted close"),
    "dividend": ("dividends", "dividend"),
    "split": ("stock splits", "stock split", "splits", "split"),
}
REQUIRED = ("timestamp", "open", "high", "low", "close")
_OFFSET_RE = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"


class FileFormatError(ValueError):
    """A file cannot be read as bars; the message names the file and the problem."""


def _norm(name: str) -> str:
    return " ".join(
        name.strip().lstrip("\ufeff").lower().replace("_", " ").replace("-", " ").split()
    )


def find_columns(names: list[str]) -> dict[str, str]:
    """Canonical name -> the file's column name, for the columns the file has."""
    by_norm: dict[str, str] = {}
    for name in names:
        by_norm.setdefault(_norm(name), name)
        by_norm.setdefault(name.strip().lower(), name)
    found: dict[str, str] = {}
    for canonical, spellings in ALIASES.items():
        for spelling in spellings:
            if spelling in by_norm:
                found[canonical] = by_norm[spelling]
                break
    return found


# --------------------------------------------------------------------------------------------
# Reading


def _csv_header(path: Path) -> tuple[list[str], str]:
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        line = fh.readline()
    delimiter = ";" if line.count(";") > line.count(",") else ","
    return [c.strip().strip('"') for c in line.rstrip("\r\n").split(delimiter)], delimiter


def read_table(path: Path) -> pa.Table:
    """The raw table of a CSV (the time column kept as text) or Parquet file."""
    if path.name.lower().endswith(".parquet"):
        return pq.read_table(path)
    header, delimiter = _csv_header(path)
    time_col = find_columns(header).get("timestamp")
    types = {time_col: pa.string()} if time_col else {}
    return pa_csv.read_csv(
        path,
        parse_options=pa_csv.ParseOptions(delimiter=delimiter),
        convert_options=pa_csv.ConvertOptions(column_types=types),
    )


# --------------------------------------------------------------------------------------------
# Normalising


def _epoch_to_utc(col: pa.Array) -> pa.Array:
    values = pc.cast(col, pa.int64())
    peak = pc.max(pc.abs(values)).as_py() or 0
    unit = "s" if peak < 10**11 else "ms" if peak < 10**14 else "us" if peak < 10**17 else "ns"
    return pc.cast(pc.cast(values, pa.timestamp(unit, tz="UTC")), UTC_US)


def _local_to_utc(naive: pa.Array, timezone: str) -> pa.Array:
    naive = pc.cast(naive, pa.timestamp("us"))
    if timezone == "UTC":
        return pc.cast(naive, UTC_US)
    aware = pc.assume_timezone(
        naive, timezone=timezone, ambiguous="earliest", nonexistent="earliest"
    )
    return pc.cast(aware, UTC_US)


def _strings_to_utc(text: pa.Array, timezone: str) -> pa.Array:
    """Text timestamps: those with an offset as written, the naive ones in `timezone`."""
    text = pc.utf8_trim_whitespace(pc.cast(text, pa.string()))
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    aware = pc.fill_null(pc.match_substring_regex(text, _OFFSET_RE), False)
    none = pa.scalar(None, pa.string())
    with_offset = pc.cast(pc.if_else(aware, text, none), UTC_US)
    naive = _local_to_utc(pc.cast(pc.if_else(aware, none, text), pa.timestamp("us")), timezone)
    return pc.if_else(aware, with_offset, naive)


def _digits_as_int(col: pa.Array) -> pa.Array:
    """Text columns holding only integers (epoch times) as int64; anything else unchanged."""
    t = col.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return col
    text = pc.utf8_trim_whitespace(pc.cast(col, pa.string()))
    digits = pc.match_substring_regex(text, r"^-?\d+$")
    if len(text) and pc.all(pc.fill_null(digits, True)).as_py() and pc.any(digits).as_py():
        return pc.cast(text, pa.int64())
    return col


def _day_keys(col: pa.Array, timezone: str) -> pa.Array:
    """00:00 UTC of each row's calendar date (the date as written, not a shifted instant)."""
    col = _digits_as_int(col)
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = pc.utf8_trim_whitespace(pc.cast(col, pa.string()))
        dates = pc.cast(pc.utf8_slice_codeunits(text, 0, 10), pa.date32())
        return pc.cast(pc.cast(dates, pa.timestamp("us")), UTC_US)
    if pa.types.is_date(t):
        return pc.cast(pc.cast(col, pa.timestamp("us")), UTC_US)
    if pa.types.is_timestamp(t):
        local = pc.local_timestamp(col) if t.tz else col
    elif pa.types.is_integer(t):
        local = pc.local_timestamp(pc.cast(_epoch_to_utc(col), pa.timestamp("us", tz=timezone)))
    else:
        raise FileFormatError(f"unsupported type {t} for the time column")
    day = pc.floor_temporal(pc.cast(local, pa.timestamp("us")), unit="day")
    return pc.cast(day, UTC_US)


def _instants(col: pa.Array, timezone: str) -> pa.Array:
    col = _digits_as_int(col)
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _strings_to_utc(col, timezone)
    if pa.types.is_timestamp(t):
        return pc.cast(col, UTC_US) if t.tz else _local_to_utc(col, timezone)
    if pa.types.is_date(t):
        return _local_to_utc(pc.cast(col, pa.timestamp("us")), timezone)
    if pa.types.is_integer(t):
        return _epoch_to_utc(col)
    raise FileFormatError(f"unsupported type {t} for the time column")


def _fragment(key: str, values: pa.Array, *, positive_only: bool) -> pa.Array:
    """`,"key":<number>` per row; '' where the value is missing, not finite (or not > 0)."""
    keep = pc.is_finite(values)
    if positive_only:
        keep = pc.and_(keep, pc.greater(values, 0.0))
    text = pc.cast(values, pa.string())
    text = pc.if_else(pc.fill_null(keep, False), text, pa.scalar(None, pa.string()))
    return pc.fill_null(pc.binary_join_element_wise(f',"{key}":', text, ""), "")


def _metadata(columns: Mapping[str, pa.Array]) -> pa.Array:
    """JSON object strings of the extra columns (null where a row has none).

    Built from null-free pieces: `binary_join_element_wise(..., null_handling="skip")` drops
    all-null rows in pyarrow 26.
    """
    fragments = [
        _fragment(key, pc.cast(columns[key], F64), positive_only=key != "adj_close")
        for key in ("adj_close", "dividend", "split")
        if key in columns
    ]
    body = pc.utf8_ltrim(pc.binary_join_element_wise(*fragments, ""), characters=",")
    wrapped = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), wrapped)


def normalise(table: pa.Table, *, daily: bool, timezone: str) -> pa.Table:
    """The bars of a raw table as the normalised schema, sorted by timestamp."""
    names = find_columns(table.column_names)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise FileFormatError(
            f"missing column(s) {', '.join(missing)} (has: {', '.join(table.column_names)})"
        )
    raw = {k: table.column(v).combine_chunks() for k, v in names.items()}
    try:
        ts_source = raw["timestamp"]
        ts = _day_keys(ts_source, timezone) if daily else _instants(ts_source, timezone)
        prices = {k: pc.cast(raw[k], F64) for k in ("open", "high", "low", "close")}
        volume = (
            pc.fill_null(pc.cast(raw["volume"], F64), 0.0)
            if "volume" in raw
            else pa.array([0.0] * table.num_rows, F64)
        )
        extras: dict[str, pa.Array] = {
            k: raw[k] for k in ("adj_close", "dividend", "split") if k in raw
        }
        meta = _metadata(extras) if extras else pa.nulls(table.num_rows, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise FileFormatError(str(exc).splitlines()[0]) from None
    out = pa.table(
        [ts, prices["open"], prices["high"], prices["low"], prices["close"], volume, meta],
        schema=SCHEMA,
    )
    valid = pc.is_valid(ts)
    for k in ("open", "high", "low", "close"):
        valid = pc.and_(valid, pc.is_valid(prices[k]))
    out = out.filter(valid)
    return out.sort_by("timestamp")


def load_bars(path: Path, *, daily: bool, timezone: str) -> pa.Table:
    """Read and normalise one file; FileFormatError names the file on any problem."""
    try:
        return normalise(read_table(path), daily=daily, timezone=timezone)
    except FileFormatError as exc:
        raise FileFormatError(f"{path.name}: {exc}") from None
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path.name}: cannot read ({reason})") from None


def in_range(table: pa.Table, start_us: int, end_us: int, limit: int | None) -> pa.Table:
    """The rows of a sorted normalised table in [start, end), at most the last `limit`."""
    ts = pc.cast(table.column("timestamp"), pa.int64())
    mask = pc.and_(pc.greater_equal(ts, start_us), pc.less(ts, end_us))
    selected = table.filter(mask)
    if limit is not None and selected.num_rows > limit:
        selected = selected.slice(selected.num_rows - limit)
    return selected
