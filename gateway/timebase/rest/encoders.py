"""Content negotiation and the bodies of bar responses: JSON, CSV and Arrow IPC stream.

- JSON (default): the envelope with `data.data` a list of bars
  `{"timestamp": "2024-01-02T00:00:00Z", "open", "high", "low", "close", "volume", "provider",
  "metadata"?}`. The list is built column-wise by Arrow compute (timestamps by `strftime`,
  floats by Arrow's shortest round-trip formatting, provider names JSON-escaped once per
  distinct value) and spliced into the envelope: no Python work per bar.
- CSV (`text/csv`): header `symbol,timestamp,open,high,low,close,volume,interval,provider,metadata`,
  timestamps as in JSON, metadata as a JSON object (empty when none).
- Arrow (`application/vnd.apache.arrow.stream`): an IPC stream with the store's bar schema
  (`timestamp` is timestamp[us, tz=UTC]).

JSON and CSV answers hold at most `rest.max_bars_text` bars, Arrow ones `rest.max_bars_arrow`
(`bar_limit`; estimated from range × interval before any work, checked again on the answer).

For CSV and Arrow the warnings travel in the `X-TimeBase-Warnings` header (a JSON list, ASCII).
"""

from __future__ import annotations

import enum
import io
import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from timebase.core.config import RestConfig
from timebase.gateway.bar_limits import BarLimit
from timebase.sdk.errors import InvalidRequestError


class Format(enum.StrEnum):
    JSON = "json"
    CSV = "csv"
    ARROW = "arrow"


MEDIA_TYPES: dict[Format, str] = {
    Format.JSON: "application/json",
    Format.CSV: "text/csv",
    Format.ARROW: "application/vnd.apache.arrow.stream",
}
#: Response header carrying the warnings of CSV and Arrow responses.
WARNINGS_HEADER = "X-TimeBase-Warnings"
#: The trading calendar that applied to a CSV or Arrow answer (JSON: `meta.calendar`).
CALENDAR_HEADER = "X-TimeBase-Calendar"
#: Columns of CSV responses (the Arrow stream has the same ones).
CSV_COLUMNS = (
    "symbol",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "interval",
    "provider",
    "metadata",
)

_BY_MEDIA: dict[str, Format] = {
    "application/json": Format.JSON,
    "application/*": Format.JSON,
    "*/*": Format.JSON,
    "text/csv": Format.CSV,
    "text/*": Format.CSV,
    "application/vnd.apache.arrow.stream": Format.ARROW,
}


def negotiate(accept: str | None, explicit: str | None = None) -> Format:
    """The format to answer in: `?format=` wins, then the best `Accept` match, else JSON."""
    if explicit:
        try:
            return Format(explicit.strip().lower())
        except ValueError:
            raise InvalidRequestError(
                f"format: unknown format {explicit!r}; use json, csv or arrow", field="format"
            ) from None
    if not accept:
        return Format.JSON
    best: tuple[float, int, Format] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        found = _BY_MEDIA.get(media.lower())
        if found is None:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        # Highest q wins; among equal q, exact types beat wildcards, then header order.
        rank = (q, -position - (1000 if "*" in media else 0), found)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return best[2] if best is not None else Format.JSON


def bar_limit(fmt: Format, config: RestConfig) -> BarLimit:
    """The REST door's size limit for answers in `fmt` (checked before any work)."""
    if fmt is Format.ARROW:
        return BarLimit(
            config.max_bars_arrow,
            "rest.max_bars_arrow",
            "an Arrow response",
            ", or use Arrow Flight",
        )
    return BarLimit(
        config.max_bars_text,
        "rest.max_bars_text",
        "a JSON or CSV response",
        ", or ask for Arrow (Accept: application/vnd.apache.arrow.stream) or use Arrow Flight",
    )


def check_size(rows: int, limit: BarLimit) -> None:
    """The safety net after the answer is known (the estimate was checked before any work)."""
    if rows > limit.max_bars:
        raise InvalidRequestError(
            f"the answer holds {rows:,} bars, more than the {limit.max_bars:,} {limit.what} may "
            f"hold ({limit.key}): narrow the range (start/end) or set limit{limit.instead}",
            field="end",
            count=rows,
            max_bars=limit.max_bars,
            limit_key=limit.key,
        )


def warnings_header(warnings: Sequence[dict[str, Any]]) -> str:
    """The `X-TimeBase-Warnings` value: the JSON list, ASCII-only (a valid header value)."""
    return json.dumps(list(warnings), separators=(",", ":"), ensure_ascii=True)


# -- JSON -----------------------------------------------------------------------------------


_DAY_US = 86_400_000_000
#: "HH:MM:SS" for every second of a day.
_TIMES_OF_DAY = pa.array(
    [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
)


def rfc3339(timestamps: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Timestamps (us, UTC) as RFC 3339 strings with `Z`; fractions only when some bar has one.

    Vectorised: each distinct day is formatted once and each time of day looked up.
    """
    micros = timestamps.cast(pa.int64()).to_numpy()
    if len(micros) and np.any(micros % 1_000_000):
        text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
        return pc.binary_join_element_wise(pa.array(text), "Z", "")
    days = micros // _DAY_US
    distinct, index = np.unique(days, return_inverse=True)
    day_text = pa.array(np.datetime_as_string(distinct.astype("datetime64[D]")))
    times = pc.take(_TIMES_OF_DAY, pa.array((micros - days * _DAY_US) // 1_000_000))
    return pc.binary_join_element_wise(
        pc.take(day_text, pa.array(index.reshape(-1))), "T", times, "Z", ""
    )


def json_rows(table: pa.Table) -> bytes:
    """The bars of `table` as JSON objects separated by commas (without the brackets)."""
    if table.num_rows == 0:
        return b""
    columns: list[Any] = ['{"timestamp":"', rfc3339(table.column("timestamp"))]
    for name in ("open", "high", "low", "close", "volume"):
        columns += [f'","{name}":' if name == "open" else f',"{name}":']
        columns += [_json_floats(table.column(name))]
    columns += [',"provider":', _json_strings(table.column("provider"))]
    meta = table.column("metadata")
    present = pc.and_(
        pc.is_valid(meta), pc.invert(pc.is_in(meta, value_set=pa.array(["", "{}", "null"])))
    )
    columns += [
        pc.if_else(
            pc.fill_null(present, False),
            pc.binary_join_element_wise(',"metadata":', pc.fill_null(meta, ""), ""),
            "",
        )
    ]
    columns += ["},"]
    rows = pc.binary_join_element_wise(*columns, "")
    joined = rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    start, end = int(offsets[joined.offset]), int(offsets[joined.offset + len(joined)])
    data = joined.buffers()[2]
    rows_bytes: bytes = data.slice(start, end - 1 - start).to_pybytes()  # no trailing comma
    return rows_bytes


def _json_floats(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Floats as JSON numbers, shortest round-trip form, whole numbers with `.0` (100.0)."""
    text = pc.cast(column, pa.string())
    # Arrow writes some whole numbers without a fraction (100), others with an exponent (1e+15).
    whole = pc.and_(pc.equal(pc.floor(column), column), pc.invert(pc.match_substring(text, "e")))
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def _json_strings(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Each string as a JSON string literal (escaped once per distinct value)."""
    encoded = pc.dictionary_encode(pc.fill_null(column, "")).combine_chunks()
    literals = pa.array([orjson.dumps(v).decode() for v in encoded.dictionary.to_pylist()])
    return pc.take(literals, encoded.indices)


def json_body(envelope: dict[str, Any], rows: bytes) -> bytes:
    """`envelope` as JSON with `data.data` replaced by the bar rows."""
    marker = f"__timebase_rows_{uuid.uuid4().hex}__"
    envelope["data"]["data"] = marker
    head, tail = orjson.dumps(envelope, option=orjson.OPT_UTC_Z).split(f'"{marker}"'.encode(), 1)
    return b"".join((head, b"[", rows, b"]", tail))


def top_provider(table: pa.Table) -> str | None:
    """The single provider of every bar, "mixed", or None when there is no bar."""
    if table.num_rows == 0:
        return None
    distinct = pc.unique(table.column("provider")).to_pylist()
    return str(distinct[0]) if len(distinct) == 1 else "mixed"


# -- CSV and Arrow --------------------------------------------------------------------------


def csv_body(table: pa.Table) -> bytes:
    out = table.select(list(CSV_COLUMNS))
    out = out.set_column(1, "timestamp", rfc3339(table.column("timestamp")))
    sink = io.BytesIO()
    pa_csv.write_csv(out, sink, pa_csv.WriteOptions(quoting_style="needed"))
    return sink.getvalue()


def arrow_body(table: pa.Table, warnings: Sequence[dict[str, Any]]) -> bytes:
    schema = table.schema
    if warnings:
        schema = schema.with_metadata(
            {**(schema.metadata or {}), b"timebase.warnings": warnings_header(warnings).encode()}
        )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table.replace_schema_metadata(schema.metadata))
    return bytes(sink.getvalue().to_pybytes())
