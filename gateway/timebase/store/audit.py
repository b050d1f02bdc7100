"""The `audit` table (sql/0004_audit.sql): one row per write or admin action.

    record_id = insert(conn, AuditRecord(...))
    rows = select(conn, AuditFilter(action="ingest", limit=50))      # newest first

Like `bars` and `coverage`, these functions are blocking and take a connection. Parameters are
bound as an Arrow batch with an explicit schema, so a NULL keeps its column's type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from timebase.store.pool import Connection

_TS = pa.timestamp("us", tz="UTC")

_INSERT_SCHEMA = pa.schema(
    [
        ("at", _TS),
        ("key_name", pa.string()),
        ("key_prefix", pa.string()),
        ("address", pa.string()),
        ("door", pa.string()),
        ("action", pa.string()),
        ("symbol", pa.string()),
        ("provider", pa.string()),
        ("interval", pa.string()),
        ("range_start", _TS),
        ("range_end", _TS),
        ("rows", pa.int64()),
        ("outcome", pa.string()),
        ("detail", pa.string()),
    ]
)

_INSERT = """
INSERT INTO audit (at, key_name, key_prefix, address, door, action, symbol, provider, "interval",
                   range_start, range_end, rows, outcome, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)
RETURNING id
"""

_COLUMNS = (
    'id, at, key_name, key_prefix, address, door, action, symbol, provider, "interval", '
    "range_start, range_end, rows, outcome, detail::text"
)


@dataclass(frozen=True)
class AuditRecord:
    """One audited action as stored (`id` is None before it is stored)."""

    at: datetime
    door: str
    action: str
    outcome: str
    key_name: str | None = None
    key_prefix: str | None = None
    address: str = ""
    symbol: str | None = None
    provider: str | None = None
    interval: str | None = None
    range_start: datetime | None = None
    range_end: datetime | None = None
    rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to read: every given field must match; newest first, `limit` of them,
    older than the row `before` (an id: the cursor of the next page)."""

    limit: int = 100
    before: int | None = None
    action: str | None = None
    key_name: str | None = None
    door: str | None = None
    symbol: str | None = None
    provider: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def insert(conn: Connection, record: AuditRecord) -> int:
    """Store `record`; return its id."""
    values: dict[str, Any] = {
        "at": record.at,
        "key_name": record.key_name,
        "key_prefix": record.key_prefix,
        "address": record.address,
        "door": record.door,
        "action": record.action,
        "symbol": record.symbol,
        "provider": record.provider,
        "interval": record.interval,
        "range_start": record.range_start,
        "range_end": record.range_end,
        "rows": record.rows,
        "outcome": record.outcome,
        "detail": json.dumps(record.detail, default=str, sort_keys=True),
    }
    batch = pa.RecordBatch.from_pylist([values], schema=_INSERT_SCHEMA)
    with conn.cursor() as cur:
        cur.execute(_INSERT, parameters=batch)
        ((record_id,),) = cur.fetchall()
    return int(record_id)


def select(conn: Connection, query: AuditFilter) -> list[AuditRecord]:
    """The rows matching `query`, newest first (at most `query.limit`)."""
    clauses: list[str] = []
    names: list[str] = []
    types: list[pa.DataType] = []
    values: list[Any] = []

    def where(sql: str, value: Any, type_: pa.DataType) -> None:
        values.append(value)
        names.append(f"p{len(values)}")
        types.append(type_)
        clauses.append(sql.replace("?", f"${len(values)}"))

    if query.before is not None:
        where("id < ?", query.before, pa.int64())
    for column, value in (
        ("action", query.action),
        ("key_name", query.key_name),
        ("door", query.door),
        ("outcome", query.outcome),
    ):
        if value is not None:
            where(f"{column} = ?", value, pa.string())
    if query.symbol is not None:
        where("(symbol = ? OR detail -> 'symbols' @> to_jsonb(?::text))", query.symbol, pa.string())
    if query.provider is not None:
        where(
            "(provider = ? OR detail -> 'providers' @> to_jsonb(?::text))",
            query.provider,
            pa.string(),
        )
    if query.since is not None:
        where("at >= ?", query.since, _TS)
    if query.until is not None:
        where("at < ?", query.until, _TS)
    sql = f"SELECT {_COLUMNS} FROM audit"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" ORDER BY id DESC LIMIT {int(query.limit)}"
    with conn.cursor() as cur:
        if values:
            schema = pa.schema(list(zip(names, types, strict=True)))
            cur.execute(
                sql,
                parameters=pa.RecordBatch.from_pylist(
                    [dict(zip(names, values, strict=True))], schema=schema
                ),
            )
        else:
            cur.execute(sql)
        rows = cur.fetchall()
    return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> AuditRecord:
    (rid, at, key_name, key_prefix, address, door, action, symbol, provider, interval) = row[:10]
    range_start, range_end, rows, outcome, detail = row[10:]
    return AuditRecord(
        at=at,
        door=door,
        action=action,
        outcome=outcome,
        key_name=key_name,
        key_prefix=key_prefix,
        address=address,
        symbol=symbol,
        provider=provider,
        interval=interval,
        range_start=range_start,
        range_end=range_end,
        rows=None if rows is None else int(rows),
        detail=json.loads(detail) if detail else {},
        id=int(rid),
    )
