"""Bars in and out of PostgreSQL through ADBC.

Writes take a transaction-level advisory lock per series of the batch. Where no key repeats in
the batch and no stored bar of its series lies within the batch's time range (one indexed probe
per series), the batch is COPYed straight into its table (the fast path). Otherwise it is COPYed
into a temporary staging table and moved with `INSERT … SELECT … ON CONFLICT DO UPDATE`, so a
batch is idempotent, never duplicates a key, and newer values win; rows whose values did not
change are not rewritten. A fast COPY that meets a stored key after all (a writer that takes no
lock) fails as a serialization failure: the pool runs the transaction again, staged. Both paths
store the same rows, in the caller's one transaction.

Reads: a half-open range [start, end) of one interval for one or many symbols, ordered by symbol,
then timestamp (then provider), streamed as Arrow record batches.

The functions here are blocking and take a connection: run them through the pool (`timebase.store`
does), several in one transaction when they must commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc

from timebase.sdk.errors import (
    DatabaseError,
    InvalidDataError,
    InvalidRequestError,
    InvalidTimeRangeError,
)
from timebase.sdk.intervals import Interval, IntervalClass
from timebase.store import literals
from timebase.store.adbc import Cursor
from timebase.store.pool import Connection, sqlstate
from timebase.store.prices import (
    INT_COLUMNS,
    PRICE_SELECT,
    SCALE_COLUMN,
    encode_prices,
    plain_prices,
)
from timebase.store.schema import (
    BAR_SCHEMA,
    BAR_TABLES,
    PRICE_COLUMNS,
    bar_table,
    intervals_of,
)
from timebase.store.series_groups import series_ranges
from timebase.store.timescale import lock_against_compression

_STAGING = "timebase_staging"
#: unique_violation: the fast path's COPY met a stored key.
_UNIQUE_VIOLATION = "23505"
SERIALIZATION_FAILURE = "40001"
#: The first key of the bar writers' advisory locks (two-key form: its own lock space).
_LOCK_CLASS = 0x54420001
#: The table's column names for the batch's (BAR_SCHEMA + encoded prices) columns.
_TABLE_COLUMNS = (
    "symbol",
    "timestamp",
    *PRICE_COLUMNS,
    *INT_COLUMNS,
    SCALE_COLUMN,
    "volume",
    "interval",
)
_VALUE_COLUMNS = (*PRICE_COLUMNS, *INT_COLUMNS, SCALE_COLUMN, "volume", "metadata")


class SeriesKey(NamedTuple):
    """One series of bars: a symbol at an interval from a provider."""

    symbol: str
    interval: str
    provider: str


@dataclass(frozen=True)
class Dataset:
    """What is stored for one series."""

    symbol: str
    interval: str
    provider: str
    rows: int
    first: datetime
    last: datetime


def normalize_symbol(symbol: str) -> str:
    """Symbols are case-insensitive on input and stored upper-case."""
    value = symbol.strip().upper()
    if not value:
        raise InvalidRequestError("symbol must not be empty")
    return value


def check_range(start: datetime, end: datetime) -> None:
    """Ranges are half-open [start, end) with aware datetimes and start < end."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidTimeRangeError(f"{name} {value.isoformat()} has no time zone")
    if not start < end:
        raise InvalidTimeRangeError(
            f"start must be before end (got [{start.isoformat()}, {end.isoformat()}))"
        )


# -- writes ---------------------------------------------------------------------------------------


def upsert_bars(
    conn: Connection, table: pa.Table, *, scaled_prices: bool = True, timescale: bool = False
) -> int:
    """Insert or update `table` (BAR_SCHEMA, already validated); return rows inserted or changed.

    Within the batch a repeated key keeps its last row. Runs in the caller's transaction.
    Prices are stored as scaled integers where exact (`timebase.store.prices`), or all as
    `float8` when `scaled_prices` is False. On TimescaleDB (`timescale`) the tables written are
    locked against the compression policy first (`timescale.lock_against_compression`): the
    probe below reads the chunks the write then inserts into, which deadlocked with it.
    """
    if table.num_rows == 0:
        return 0
    staged = table.select(list(BAR_SCHEMA.names)).cast(BAR_SCHEMA)
    staged = staged.set_column(0, "symbol", pc.utf8_upper(staged["symbol"]))
    ordinal = pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), len(staged))), 1)
    staged = staged.append_column("_ord", ordinal)
    staged = encode_prices(staged) if scaled_prices else plain_prices(staged)

    per_class: list[tuple[IntervalClass, int]] = []
    for klass in BAR_TABLES:
        mask = pc.is_in(staged["interval"], value_set=pa.array(intervals_of(klass)))
        count = pc.sum(mask).as_py() or 0
        if count:
            per_class.append((klass, count))
    if sum(count for _, count in per_class) != staged.num_rows:
        raise InvalidDataError("batch has rows with an unknown interval; validate it first")

    if timescale:
        for klass, _ in per_class:
            lock_against_compression(conn, BAR_TABLES[klass])
    ranges = series_ranges(staged)  # without Acero for one series
    _lock_series(conn, ranges)
    if _unique_keys(staged, len(ranges)) and not _overlaps_stored(
        conn, ranges, [klass for klass, _ in per_class]
    ):
        return _copy_direct(conn, staged, per_class)

    written = 0
    with conn.cursor() as cur:
        # Created in this transaction: a failed statement rolls it back with the rest (a DROP
        # on the aborted transaction would fail too and hide the first error, e.g. a deadlock
        # the pool retries).
        cur.adbc_ingest(_STAGING, staged, mode="create", temporary=True)
        for klass, _ in per_class:
            cur.execute(_upsert_sql(BAR_TABLES[klass], intervals_of(klass)))
            written += max(int(cur.rowcount), 0)
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGING}")
    return written


def _lock_series(conn: Connection, ranges: list[dict[str, object]]) -> None:
    """Transaction-level advisory locks on the batch's series (in one order: no deadlock), so
    no other write of them slips between the probe and the COPY."""
    names = sorted({f"{r['symbol']}\x1f{r['interval']}\x1f{r['provider']}" for r in ranges})
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT count(pg_advisory_xact_lock({_LOCK_CLASS}, k)) FROM ("
            f"SELECT DISTINCT hashtext(n) AS k FROM unnest({literals.text_array(names)}) AS n "
            "ORDER BY k) AS keys"
        )
        cur.fetchall()


def _unique_keys(staged: pa.Table, series: int) -> bool:
    """Whether no key repeats in the batch (vectorised)."""
    rows = int(staged.num_rows)
    if series == 1:
        return int(pc.count_distinct(staged["timestamp"]).as_py()) == rows
    keys = staged.select(["symbol", "interval", "provider", "timestamp"])
    return int(keys.group_by(keys.column_names).aggregate([]).num_rows) == rows


def _overlaps_stored(
    conn: Connection, ranges: list[dict[str, object]], classes: list[IntervalClass]
) -> bool:
    """Whether a stored bar of a series lies within the batch's range of that series (one
    primary-key index probe per series: a yes may be a bar between the batch's keys)."""
    parts = []
    for klass in classes:
        table, wanted = BAR_TABLES[klass], intervals_of(klass)
        for row in ranges:
            if row["interval"] not in wanted:
                continue
            parts.append(
                f"(SELECT 1 FROM {table} WHERE symbol = {literals.text(str(row['symbol']))} "
                f'AND "interval" = {literals.text(str(row["interval"]))} '
                f"AND provider = {literals.text(str(row['provider']))} "
                f"AND ts >= {literals.timestamptz(row['timestamp_min'])} "  # type: ignore[arg-type]
                f"AND ts <= {literals.timestamptz(row['timestamp_max'])} LIMIT 1)"  # type: ignore[arg-type]
            )
    if not parts:
        return False
    with conn.cursor() as cur:
        cur.execute(f"SELECT EXISTS ({' UNION ALL '.join(parts)})")
        ((found,),) = cur.fetchall()
    return bool(found)


def _copy_direct(
    conn: Connection, staged: pa.Table, per_class: list[tuple[IntervalClass, int]]
) -> int:
    """COPY `staged` straight into the bar tables (no key of it is stored: checked under the
    series' locks). A key there after all (a writer that takes no lock, e.g. an older gateway
    during a rolling upgrade) aborts the transaction as a serialization failure: the pool
    runs it again, and the probe then sends the batch the staged way."""
    # jsonb's binary input is a version byte then the JSON text: built column-wise, no row casts.
    metadata = pc.binary_join_element_wise("\x01", staged["metadata"], "").cast(pa.binary())
    columns = [staged[name] for name in _TABLE_COLUMNS] + [staged["provider"], metadata]
    names = [*_TABLE_COLUMNS, "provider", "metadata"]
    names[names.index("timestamp")] = "ts"
    direct = pa.table(columns, names=names)
    with conn.cursor() as cur:
        for klass, _ in per_class:
            part = direct
            if len(per_class) > 1:
                mask = pc.is_in(direct["interval"], value_set=pa.array(intervals_of(klass)))
                part = direct.filter(mask)
            try:
                cur.adbc_ingest(BAR_TABLES[klass], part, mode="append")
            except adbc_driver_manager.Error as exc:
                if sqlstate(exc) != _UNIQUE_VIOLATION:
                    raise
                raise DatabaseError(
                    "writing bars: a concurrent writer stored some of these keys first",
                    sqlstate=SERIALIZATION_FAILURE,
                ) from exc
    return int(staged.num_rows)


def _upsert_sql(table: str, intervals: tuple[str, ...]) -> str:
    # Rows are inserted in key order, so concurrent writers lock keys in the same order.
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUE_COLUMNS)
    current = ", ".join(f"b.{c}" for c in _VALUE_COLUMNS)
    new = ", ".join(f"EXCLUDED.{c}" for c in _VALUE_COLUMNS)
    return f"""
        INSERT INTO {table} AS b
            (symbol, "interval", provider, ts, {", ".join(_VALUE_COLUMNS)})
        SELECT DISTINCT ON (symbol, "interval", provider, "timestamp")
            symbol, "interval", provider, "timestamp", {", ".join(_VALUE_COLUMNS[:-1])},
            metadata::jsonb
        FROM pg_temp.{_STAGING}
        WHERE "interval" = ANY({literals.text_array(intervals)})
        ORDER BY symbol, "interval", provider, "timestamp", _ord DESC
        ON CONFLICT (symbol, "interval", provider, ts) DO UPDATE
            SET {updates}, ingested_at = now()
            WHERE ({current}) IS DISTINCT FROM ({new})
    """


def delete_bars(conn: Connection, key: SeriesKey, start: datetime, end: datetime) -> int:
    """Delete the bars of one series in [start, end); return how many."""
    interval = Interval.parse(key.interval)
    with conn.cursor() as cur:
        cur.execute(
            f"""WITH gone AS (
                    DELETE FROM {bar_table(interval)}
                    WHERE symbol = $1 AND "interval" = $2 AND provider = $3
                      AND ts >= $4 AND ts < $5
                    RETURNING 1
                ) SELECT count(*) FROM gone""",
            parameters=(key.symbol, key.interval, key.provider, start, end),
        )
        ((count,),) = cur.fetchall()
        return int(count)


# -- reads ----------------------------------------------------------------------------------------
# Mutation testing covers the write path only (docs/mutation.md):
# pragma: no mutate block


@dataclass(frozen=True)
class BarQuery:
    """A range read: bars of `interval` for `symbols` in [start, end).

    `provider` narrows to one provider. `limit` keeps the N most recent bars of the range per
    symbol (still in ascending order).
    """

    symbols: tuple[str, ...]
    interval: Interval
    start: datetime
    end: datetime
    provider: str | None = None
    limit: int | None = None

    @classmethod
    def build(
        cls,
        symbols: str | Iterable[str],
        interval: Interval | str,
        start: datetime,
        end: datetime,
        *,
        provider: str | None = None,
        limit: int | None = None,
    ) -> BarQuery:
        """A checked query: symbols upper-cased and deduplicated, the range and limit valid."""
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        normalized = tuple(sorted({normalize_symbol(s) for s in names}))
        if not normalized:
            raise InvalidRequestError("at least one symbol is required")
        check_range(start, end)
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise InvalidRequestError(f"limit must be a positive integer, got {limit!r}")
        if provider is not None and not provider.strip():
            provider = None
        return cls(
            symbols=normalized,
            interval=interval if isinstance(interval, Interval) else Interval.parse(interval),
            start=start,
            end=end,
            provider=provider,
            limit=limit,
        )

    @property
    def one_series(self) -> bool:
        """Whether the query reads one series whole (one symbol of one provider, no limit):
        its symbol, interval and provider are then the same on every row."""
        return len(self.symbols) == 1 and self.provider is not None and self.limit is None

    def sql(self, *, series_columns: bool = False) -> str:
        """The SELECT (literals only, so the driver streams it with COPY).

        `metadata` is sent as stored (the driver reads jsonb as text: no cast per row). One
        symbol of one provider is read in primary-key order, which is the answer's order: the
        planner needs no sort (an equality on each key column before `ts`). `series_columns`
        (a `one_series` query only) leaves out the columns every row has the same value in
        (symbol, interval, provider): `SERIES_COLUMNS`, ≈ a quarter fewer bytes to send."""
        columns = (
            f'ts AS "timestamp", {PRICE_SELECT}, volume, metadata'
            if series_columns and self.one_series
            else f'symbol, ts AS "timestamp", {PRICE_SELECT}, volume, "interval", provider, metadata'
        )
        where = [
            f'"interval" = {literals.text(self.interval.value)}',
            f"ts >= {literals.timestamptz(self.start)}",
            f"ts < {literals.timestamptz(self.end)}",
        ]
        if self.provider is not None:
            where.append(f"provider = {literals.text(self.provider)}")
        table = bar_table(self.interval)
        if self.limit is None:
            where.insert(
                0,
                f"symbol = {literals.text(self.symbols[0])}"
                if len(self.symbols) == 1
                else f"symbol = ANY({literals.text_array(self.symbols)})",
            )
            return (
                f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)} "
                "ORDER BY symbol, ts, provider"
            )
        where.insert(0, "symbol = s.symbol")
        return (
            "SELECT b.* FROM "
            f"unnest({literals.text_array(self.symbols)}) AS s(symbol) "
            f"CROSS JOIN LATERAL (SELECT {columns} FROM {table} WHERE {' AND '.join(where)} "
            f"ORDER BY ts DESC, provider DESC LIMIT {literals.integer(self.limit)}) AS b "
            'ORDER BY b.symbol, b."timestamp", b.provider'
        )


#: The columns of `BarQuery.sql(series_columns=True)`: BAR_SCHEMA without symbol, interval and
#: provider, which `conform` adds back from the query.
SERIES_COLUMNS = ("timestamp", *PRICE_COLUMNS, "volume", "metadata")


def conform(batch: pa.RecordBatch, series: BarQuery | None = None) -> pa.RecordBatch:
    """A batch read from the database, in exactly BAR_SCHEMA (driver field metadata dropped).
    With `series` (a `one_series` query read with `series_columns`), the batch has the
    `SERIES_COLUMNS` and the constant columns are made from the query."""
    columns = list(batch.columns)
    if series is not None:
        n = batch.num_rows
        constant = {
            "symbol": series.symbols[0],
            "interval": series.interval.value,
            "provider": series.provider,
        }
        by_name = dict(zip(SERIES_COLUMNS, columns, strict=True))
        columns = [
            by_name[name] if name in by_name else pa.repeat(pa.scalar(constant[name]), n)
            for name in BAR_SCHEMA.names
        ]
    columns = [
        column if column.type == field.type else column.cast(field.type)
        for column, field in zip(columns, BAR_SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=BAR_SCHEMA)


def open_bar_reader(
    conn: Connection, query: BarQuery, *, prepare: Callable[[Cursor], None] | None = None
) -> Iterator[pa.RecordBatch]:
    """Stream the bars of `query` as record batches (the cursor closes when exhausted);
    `prepare` runs on the cursor first (session settings, driver options). A `one_series`
    query's constant columns are made here, not sent by the database (`SERIES_COLUMNS`)."""
    series = query if query.one_series else None
    with conn.cursor() as cur:
        if prepare is not None:
            prepare(cur)
        cur.execute(query.sql(series_columns=series is not None))
        reader = cur.fetch_record_batch()
        for batch in reader:
            yield conform(batch, series)


def read_bars(conn: Connection, query: BarQuery) -> pa.Table:
    """All bars of `query` as one table."""
    return pa.Table.from_batches(list(open_bar_reader(conn, query)), schema=BAR_SCHEMA)


def list_datasets(conn: Connection, *, symbol: str | None = None) -> list[Dataset]:
    """Every stored series (optionally of one symbol) with its row count and first/last ts."""
    where = ""
    params: tuple[str] | None = None
    if symbol is not None:
        where = "WHERE symbol = $1"
        params = (normalize_symbol(symbol),)
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT symbol, "interval", provider, count(*), min(ts), max(ts) FROM bars {where}
                GROUP BY symbol, "interval", provider ORDER BY symbol, "interval", provider""",
            parameters=params,
        )
        return [Dataset(s, i, p, int(n), first, last) for s, i, p, n, first, last in cur.fetchall()]


def latest_timestamps(
    conn: Connection,
    *,
    symbols: Iterable[str] | None = None,
    interval: Interval | str | Iterable[Interval | str] | None = None,
    provider: str | None = None,
) -> dict[SeriesKey, datetime]:
    """The newest stored bar start of each series matching the filters (`interval`: one
    interval or several).

    With `symbols` (the gateway's hot path) this costs a few primary-key index probes per
    series, however many bars are stored: the series of each symbol are found by a loose index
    scan and each `max(ts)` is read from the end of its index range.
    """
    wanted: list[Interval] | None = None
    if interval is not None:
        raw = [interval] if isinstance(interval, str) else list(interval)
        wanted = [i if isinstance(i, Interval) else Interval.parse(i) for i in raw]
    if symbols is None:
        if wanted is not None and len(wanted) > 1:
            raise InvalidRequestError("latest timestamps of all symbols: one interval at most")
        return _latest_by_scan(conn, wanted[0] if wanted else None, provider)
    names = sorted({normalize_symbol(s) for s in symbols})
    if not names:
        return {}
    parts = []
    for klass, table in BAR_TABLES.items():
        intervals = (
            [i.value for i in wanted if i.klass is klass]
            if wanted is not None
            else list(intervals_of(klass))
        )
        if intervals:
            parts.append(_latest_sql(table, names, intervals, provider))
    if not parts:
        return {}
    with conn.cursor() as cur:
        cur.execute(" UNION ALL ".join(parts))
        return {SeriesKey(s, i, p): ts for s, i, p, ts in cur.fetchall() if ts is not None}


def _latest_sql(table: str, symbols: list[str], intervals: list[str], provider: str | None) -> str:
    """Newest bar of each (symbol, interval, provider) series of `table` (literals only)."""
    series = (
        f"SELECT sy, iv, {literals.text(provider)}::text AS pr "
        f"FROM unnest({literals.text_array(symbols)}) AS sy "
        f"CROSS JOIN unnest({literals.text_array(intervals)}) AS iv"
        if provider is not None
        # Loose index scan: each step finds the next provider of (symbol, interval) in the index.
        else f"""SELECT sy, iv, pr FROM (WITH RECURSIVE s(sy, iv, pr) AS (
                SELECT sy, iv, (SELECT provider FROM {table}
                                WHERE symbol = sy AND "interval" = iv ORDER BY provider LIMIT 1)
                FROM unnest({literals.text_array(symbols)}) AS sy
                CROSS JOIN unnest({literals.text_array(intervals)}) AS iv
                UNION ALL
                SELECT sy, iv, (SELECT provider FROM {table}
                                WHERE symbol = s.sy AND "interval" = s.iv AND provider > s.pr
                                ORDER BY provider LIMIT 1)
                FROM s WHERE pr IS NOT NULL
            ) SELECT sy, iv, pr FROM s WHERE pr IS NOT NULL) AS found"""
    )
    return (
        f"SELECT sy, iv, pr, (SELECT max(ts) FROM {table} "
        f'WHERE symbol = sy AND "interval" = iv AND provider = pr) FROM ({series}) AS series'
    )


def _latest_by_scan(
    conn: Connection, interval: Interval | None, provider: str | None
) -> dict[SeriesKey, datetime]:
    """Every series' newest bar (reads every bar: for tools, not for requests)."""
    conditions: list[str] = []
    params: list[object] = []
    table = "bars"
    if interval is not None:
        table = bar_table(interval)
        params.append(interval.value)
        conditions.append(f'"interval" = ${len(params)}')
    if provider is not None:
        params.append(provider)
        conditions.append(f"provider = ${len(params)}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT symbol, "interval", provider, max(ts) FROM {table} {where}
                GROUP BY symbol, "interval", provider""",
            parameters=tuple(params) or None,
        )
        return {SeriesKey(s, i, p): ts for s, i, p, ts in cur.fetchall()}
