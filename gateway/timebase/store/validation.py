"""Checks on a batch of bars before it is written, with the two policies of the two write paths.

- A user's batch (ingest) is all or nothing: `validate_user_batch` raises InvalidDataError naming
  the first bad row and its column.
- A provider's batch keeps what is good: `clean_provider_batch` drops the bad rows and says how
  many were dropped and why.

Both also normalise: columns in BAR_SCHEMA order and types, symbols upper-case, timestamps UTC
microseconds, a missing `metadata` column filled with nulls. The checks are vectorised (pyarrow
compute); Python only looks at distinct metadata values and at the one row an error message names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from timebase.sdk.bar_rules import VALUE_RULES
from timebase.sdk.errors import InvalidDataError
from timebase.sdk.intervals import INTERVALS
from timebase.store.schema import BAR_SCHEMA, KEY_COLUMNS, REQUIRED_COLUMNS
from timebase.store.series_groups import one_series

_TIMESTAMP = pa.timestamp("us", tz="UTC")


class CleanBatch(NamedTuple):
    """A provider batch after cleaning: the valid rows and what was skipped."""

    table: pa.Table
    skipped: int
    reasons: dict[str, int]


@dataclass(frozen=True)
class _Rule:
    column: str
    reason: str
    mask: Callable[[pa.Table], Any]


def validate_user_batch(table: pa.Table) -> pa.Table:
    """The normalised batch, or InvalidDataError naming the first bad row and column."""
    batch = normalize(table)
    if batch.num_rows == 0:
        return batch
    flagged = _flag_rows(batch, keep="first")
    masks = [mask for _, mask in flagged]
    combined = _any(masks, batch.num_rows)
    if not pc.any(combined).as_py():
        return batch
    row = int(pc.index(combined, True).as_py())
    for rule, mask in flagged:
        if mask[row].as_py():
            value = batch[rule.column][row].as_py()
            shown = value.isoformat() if isinstance(value, datetime) else repr(value)
            reason = rule.reason
            if rule.reason == "duplicate key":
                reason = f"duplicate key (same symbol, interval, provider and timestamp as row {_first_duplicate(batch, row)})"
            raise InvalidDataError(
                f"row {row}, column {rule.column!r}: {reason} (value: {shown}); nothing was written",
                row=row,
                column=rule.column,
                reason=rule.reason,
            )
    raise AssertionError("a flagged row matched no rule")  # pragma: no cover


def clean_provider_batch(table: pa.Table) -> CleanBatch:
    """Drop the invalid rows (of repeated keys, the last row is kept); count them by reason."""
    batch = normalize(table)
    if batch.num_rows == 0:
        return CleanBatch(batch, 0, {})
    flagged = _flag_rows(batch, keep="last")
    reasons: dict[str, int] = {}
    seen = _falses(batch.num_rows)
    for rule, mask in flagged:
        fresh = pc.and_(mask, pc.invert(seen))
        count = int(pc.sum(pc.cast(fresh, pa.int64())).as_py() or 0)
        if count:
            key = f"{rule.column}: {rule.reason}"
            reasons[key] = reasons.get(key, 0) + count
        seen = pc.or_(seen, mask)
    skipped = sum(reasons.values())
    if skipped == 0:
        return CleanBatch(batch, 0, {})
    return CleanBatch(batch.filter(pc.invert(seen)), skipped, reasons)


# -- normalisation --------------------------------------------------------------------------------


def check_unique_columns(names: list[str]) -> None:
    """InvalidDataError naming the first column that appears twice in a batch."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidDataError(
                f"column {name!r} appears twice; nothing was written", column=name
            )
        seen.add(name)


def normalize(table: pa.Table) -> pa.Table:
    """`table` in BAR_SCHEMA (see the module docstring); schema problems raise InvalidDataError."""
    names = table.column_names
    check_unique_columns(names)
    extra = [n for n in names if n not in BAR_SCHEMA.names]
    if extra:
        raise InvalidDataError(
            f"unknown column {extra[0]!r}; expected columns: {', '.join(BAR_SCHEMA.names)}",
            column=extra[0],
        )
    for name in REQUIRED_COLUMNS:
        if name not in names:
            raise InvalidDataError(f"missing column {name!r}", column=name)
    columns: list[pa.ChunkedArray] = []
    for field in BAR_SCHEMA:
        if field.name not in names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, field.type)]))
            continue
        columns.append(_convert(field, table[field.name]))
    batch = pa.Table.from_arrays(columns, schema=BAR_SCHEMA)
    symbols = pc.utf8_upper(pc.utf8_trim_whitespace(batch["symbol"]))
    return batch.set_column(0, BAR_SCHEMA.field("symbol"), symbols)


def _convert(field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    source = column.type
    if pa.types.is_dictionary(source):
        column = column.cast(source.value_type)
        source = source.value_type
    if field.name == "timestamp":
        if not pa.types.is_timestamp(source):
            raise _type_error(field.name, source, "a timestamp with a time zone")
        if source.tz is None:
            raise InvalidDataError(
                "row 0, column 'timestamp': naive timestamps are not accepted "
                "(the column needs a time zone, e.g. timestamp[us, tz=UTC])",
                row=0,
                column="timestamp",
                reason="naive timestamp",
            )
        try:
            return column.cast(_TIMESTAMP)
        except pa.ArrowInvalid:
            raise InvalidDataError(
                "column 'timestamp': timestamps below microsecond precision are not accepted",
                column="timestamp",
            ) from None
    if pa.types.is_string(field.type):
        if not (pa.types.is_string(source) or pa.types.is_large_string(source)):
            raise _type_error(field.name, source, "strings")
        return column.cast(pa.string())
    if not (pa.types.is_floating(source) or pa.types.is_integer(source)):
        raise _type_error(field.name, source, "numbers")
    return column.cast(pa.float64())


def _type_error(name: str, got: pa.DataType, expected: str) -> InvalidDataError:
    return InvalidDataError(f"column {name!r} has type {got}, expected {expected}", column=name)


# -- rules ----------------------------------------------------------------------------------------


def _rules() -> list[_Rule]:
    rules = [
        _Rule(name, "missing value", functools.partial(_is_null, name=name))
        for name in REQUIRED_COLUMNS
    ]
    rules += [
        _Rule("symbol", "empty symbol", lambda t: pc.equal(t["symbol"], "")),
        _Rule("provider", "empty provider", lambda t: pc.equal(t["provider"], "")),
        _Rule(
            "interval",
            f"unknown interval (valid: {', '.join(INTERVALS)})",
            lambda t: pc.invert(pc.is_in(t["interval"], value_set=pa.array(INTERVALS))),
        ),
    ]
    # The value rules are the SDK's (one set for what providers yield and what is written).
    rules += [_Rule(rule.column, rule.message, rule.mask) for rule in VALUE_RULES]
    rules.append(_Rule("metadata", "metadata is not a JSON object", _bad_metadata))
    return rules


def _is_null(t: pa.Table, name: str) -> Any:
    return pc.is_null(t[name])


def _bad_metadata(t: pa.Table) -> Any:
    distinct = pc.unique(pc.drop_null(t["metadata"])).to_pylist()
    bad = [text for text in distinct if not _is_json_object(text)]
    if not bad:
        return _falses(t.num_rows)
    return pc.is_in(t["metadata"], value_set=pa.array(bad, pa.string()))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _flag_rows(batch: pa.Table, *, keep: str) -> list[tuple[_Rule, pa.Array]]:
    """Each rule with its row mask (nulls read as False); duplicates among the otherwise valid."""
    n = batch.num_rows
    flagged: list[tuple[_Rule, pa.Array]] = []
    for rule in _rules():
        mask = pc.fill_null(rule.mask(batch), False)
        flagged.append((rule, _flat(mask)))
    valid = pc.invert(_any([m for _, m in flagged], n))
    dup_rule = _Rule("timestamp", "duplicate key", lambda t: t["timestamp"])
    flagged.append((dup_rule, _duplicates(batch, valid, keep=keep)))
    return flagged


def _duplicates(batch: pa.Table, candidates: pa.Array, *, keep: str) -> pa.Array:
    """Rows among `candidates` whose key repeats another candidate's (all but the kept one)."""
    n = batch.num_rows
    if _increasing_one_series(batch, candidates):  # the usual batch: no sort needed
        return _falses(n)
    ordinals = _ordinals(n)
    keyed = batch.select(list(KEY_COLUMNS)).append_column("_row", ordinals).filter(candidates)
    if keyed.num_rows < 2:
        return _falses(n)
    order = "ascending" if keep == "first" else "descending"
    sort_keys = [(k, "ascending") for k in KEY_COLUMNS] + [("_row", order)]
    ranked = keyed.take(pc.sort_indices(keyed, sort_keys=sort_keys))
    same: Any = None
    for name in KEY_COLUMNS:
        column = _flat(ranked[name])
        equal = pc.equal(column[1:], column[:-1])
        same = equal if same is None else pc.and_(same, equal)
    repeated = pc.filter(_flat(ranked["_row"])[1:], same)
    return _flat(pc.is_in(ordinals, value_set=repeated))


def _increasing_one_series(batch: pa.Table, candidates: pa.Array) -> bool:
    """Whether the `candidates` rows are of one series with strictly increasing timestamps, so
    that no key repeats among them."""
    keyed = batch.select(list(KEY_COLUMNS))
    if candidates.false_count:
        keyed = keyed.filter(candidates)
    if keyed.num_rows < 2:
        return True
    if not one_series(keyed):
        return False
    stamps = _flat(keyed["timestamp"])
    return bool(pc.all(pc.greater(stamps[1:], stamps[:-1])).as_py())


def _first_duplicate(batch: pa.Table, row: int) -> int:
    """The first row with the same key as `row` (for the error message only)."""
    mask: Any = None
    for name in KEY_COLUMNS:
        equal = pc.fill_null(pc.equal(batch[name], batch[name][row]), False)
        mask = equal if mask is None else pc.and_(mask, equal)
    return int(pc.index(mask, True).as_py())


def _ordinals(n: int) -> pa.Array:
    if n == 0:
        return pa.array([], pa.int64())
    ones = pa.repeat(pa.scalar(1, pa.int64()), n)
    return _flat(pc.subtract(pc.cumulative_sum(ones), 1))


def _falses(n: int) -> pa.Array:
    return pa.repeat(pa.scalar(False), n)


def _any(masks: list[pa.Array], n: int) -> pa.Array:
    combined = _falses(n)
    for mask in masks:
        combined = pc.or_(combined, mask)
    return _flat(combined)


def _flat(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values
