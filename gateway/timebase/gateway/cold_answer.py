"""A cold answer built from the fetched batches while they are being stored.

    table = await cold_answer(fill, request, warnings)   # None: read the stored rows back

Storing goes on in the background (`Fetcher`, deferred stores); the answer is the rows a warm
read of the same segments returns: each batch cleaned as the store cleans it, a key repeated
across batches kept from the later batch (as the later upsert wins), each timestamp from the
provider of its segment, sorted like a read (timestamp, then provider), and `metadata` in
PostgreSQL's jsonb text form (`jsonb_text`). Metadata whose jsonb form is not certain here (a
number with an exponent, a NUL) makes `fetched_answer` return None: the caller reads the stored
rows back instead. When storing fails, the answer still holds the fetched bars, with a
`STORE_FAILED` warning; nothing of the failed store is recorded as covered (one transaction), so
the next request fetches it again. A door that can warn after the data (gRPC streams) gets the
answer without waiting for the stores, and their outcome later (`deferred_stores`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from timebase.gateway.bar_columns import concat
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.bar_warnings import BarWarning
from timebase.gateway.coverage_plan import Segment
from timebase.gateway.deferred_stores import leave_running, store_failed
from timebase.gateway.fetching import Fill
from timebase.gateway.history_reads import mask_segments
from timebase.store import BAR_SCHEMA
from timebase.store.validation import clean_provider_batch

_PLAIN_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class _Unsure(Exception):
    """A value whose jsonb text form is not certain here."""


class _Number(str):
    """A JSON number, kept as its text."""


async def cold_answer(
    fill: Fill, request: BarRequest, warnings: list[BarWarning]
) -> pa.Table | None:
    """The fetched part of the answer, built while `fill`'s deferred stores run; None when
    nothing was fetched, or when the stored rows must be read back (see the module doc). A
    failed store adds a STORE_FAILED warning to `warnings`. For a door that reports after the
    data (`deferred_stores.reporting_stores`), the answer does not wait for the stores."""
    if not fill.stores:
        return None
    outcome = asyncio.create_task(fill.stored())
    cleaned = [batch.table for batch in await asyncio.gather(*fill.fetched)]
    built = await asyncio.to_thread(fetched_answer, cleaned, fill.segments, cleaned=True)
    # A provider-aware answer reads its stored part back together with the fetched one: it
    # can leave the stores running only when everything was fetched.
    whole = request.provider is None or _covers(fill.segments, request)
    if built is not None and whole and leave_running(request, fill.segments, outcome):
        return built
    error = await asyncio.shield(outcome)
    if error is None:
        return built
    warnings.append(store_failed(request, fill.segments, error))
    if built is None:
        built = await asyncio.to_thread(
            fetched_answer, cleaned, fill.segments, exact=False, cleaned=True
        )
    return built


def _covers(segments: Sequence[Segment], request: BarRequest) -> bool:
    """Whether `segments` cover [request.start, request.end) without a hole."""
    cursor = request.start
    for seg in sorted(segments):
        if seg.start > cursor:
            return False
        cursor = max(cursor, seg.end)
    return cursor >= request.end


def with_stored(fetched: pa.Table, stored: pa.Table) -> pa.Table:
    """The fetched part of an answer and its stored part (other time ranges), in read order."""
    if stored.num_rows == 0:
        return fetched
    return _sorted(pa.concat_tables([fetched, stored]))


def fetched_answer(
    tables: Sequence[pa.Table],
    segments: Sequence[Segment],
    *,
    exact: bool = True,
    cleaned: bool = False,
) -> pa.Table | None:
    """The rows of `tables` a warm read of `segments` returns (see the module docstring);
    `exact=False`: metadata as the provider sent it, never None. `cleaned`: each table is
    already cleaned (`clean_provider_batch`, as its store cleaned it): only a key repeated
    across tables is left to drop."""
    whole = concat(tables)
    # Batches cleaned one by one may still repeat a key across them: cleaned again, together.
    rows = whole if cleaned and len(tables) == 1 else clean_provider_batch(whole).table
    if rows.num_rows == 0:
        return BAR_SCHEMA.empty_table()
    table = mask_segments(rows, sorted(segments))
    metadata = table.column("metadata")
    if exact and metadata.null_count < len(metadata):
        distinct = pc.unique(pc.drop_null(metadata)).to_pylist()
        try:
            canonical = [jsonb_text(value) for value in distinct]
        except _Unsure:
            return None
        index = pc.index_in(metadata, value_set=pa.array(distinct, pa.string()))
        table = table.set_column(
            BAR_SCHEMA.get_field_index("metadata"),
            "metadata",
            pc.take(pa.array(canonical, pa.string()), index),
        )
    return _sorted(table)


def _sorted(table: pa.Table) -> pa.Table:
    order = pc.sort_indices(
        table, sort_keys=[("timestamp", "ascending"), ("provider", "ascending")]
    )
    return table.take(order).combine_chunks()


def jsonb_text(value: str) -> str:
    """`value` (a JSON text) as PostgreSQL prints it back from jsonb: object keys ordered by
    length, then bytes, the last of repeated keys kept, `", "` and `": "` separators, numbers
    as written (`-0` as `0`), strings escaped as jsonb escapes them."""
    try:
        parsed = json.loads(
            value,
            object_pairs_hook=dict,
            parse_float=_Number,
            parse_int=_Number,
            parse_constant=_refuse,
        )
        return _render(parsed)
    except ValueError:  # not JSON, or a lone surrogate (UnicodeEncodeError)
        raise _Unsure(value) from None


def _refuse(name: str) -> Any:
    raise _Unsure(name)


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _Number):
        if not _PLAIN_NUMBER.fullmatch(value):
            raise _Unsure(value)
        if value.startswith("-") and not value.strip("-0."):
            return value[1:]  # numeric has no negative zero
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    assert isinstance(value, dict)
    keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
    return "{" + ", ".join(f"{_string(k)}: {_render(value[k])}" for k in keys) + "}"


def _string(text: str) -> str:
    if "\x00" in text:
        raise _Unsure(text)
    text.encode()  # a lone surrogate: not storable
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
