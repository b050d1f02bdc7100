"""The symbol catalogue (sql/0011_symbols.sql): what providers list, and what was stored.

    replace_listed(conn, "synthetic", [CatalogEntry("SYN:ACME", "Acme", "equity"), ...])
    note_stored(conn, [("AAPL", "yahoo-finance")])
    page = search(conn, SymbolSearch(query="ac", limit=20))

A provider's refresh replaces what it listed before (rows it no longer lists stay only while bars
of them are stored). Like `bars` and `audit`, these functions are blocking, take a connection and
run in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from timebase.sdk.intervals import INTERVALS
from timebase.store.pool import Connection

_STAGING = "symbols_incoming"

_STAGING_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("intervals", pa.string()),
        ("metadata", pa.string()),
    ]
)


@dataclass(frozen=True)
class CatalogEntry:
    """One symbol a provider lists."""

    symbol: str
    name: str = ""
    type: str = ""
    intervals: Sequence[str] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogSymbol:
    """One symbol of the catalogue across providers (a search result)."""

    symbol: str
    name: str
    type: str
    providers: tuple[str, ...]
    intervals: tuple[str, ...]
    #: The providers' metadata merged (a key several list: the first provider's, by slug).
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SymbolSearch:
    """Symbols whose symbol starts with or contains `query`, or whose name contains it
    (case-insensitive); of `type` and `provider` when given. `limit` per page from `offset`."""

    query: str = ""
    type: str = ""
    provider: str = ""
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class SymbolPage:
    symbols: list[CatalogSymbol]
    total: int


def replace_listed(conn: Connection, provider: str, entries: Iterable[CatalogEntry]) -> int:
    """`provider` lists exactly `entries` now; return how many are stored."""
    rows: dict[str, dict[str, str]] = {}
    for e in entries:
        rows[e.symbol] = {
            "symbol": e.symbol,
            "name": e.name,
            "type": e.type.lower(),
            "intervals": ",".join(e.intervals),
            "metadata": json.dumps(dict(e.metadata), sort_keys=True),
        }
    staged = pa.Table.from_pylist(list(rows.values()), schema=_STAGING_SCHEMA)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE symbols SET listed = false, updated_at = now() WHERE provider = $1 AND listed",
            parameters=(provider,),
        )
        if staged.num_rows:
            cur.adbc_ingest(_STAGING, staged, mode="create", temporary=True)
            try:
                cur.execute(
                    f"""
                    INSERT INTO symbols AS s
                        (symbol, provider, name, type, intervals, metadata, listed)
                    SELECT symbol, $1, name, type,
                           CASE WHEN intervals = '' THEN '{{}}'::text[]
                                ELSE string_to_array(intervals, ',') END,
                           metadata::jsonb, true
                    FROM pg_temp.{_STAGING} ORDER BY symbol
                    ON CONFLICT (symbol, provider) DO UPDATE SET
                        name = EXCLUDED.name, type = EXCLUDED.type,
                        intervals = EXCLUDED.intervals, metadata = EXCLUDED.metadata,
                        listed = true, updated_at = now()
                    """,
                    parameters=(provider,),
                )
            finally:
                cur.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGING}")
        cur.execute(
            "DELETE FROM symbols WHERE provider = $1 AND NOT listed AND NOT stored",
            parameters=(provider,),
        )
    return len(rows)


def note_stored(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Bars of these (symbol, provider) pairs were stored: they belong to the catalogue. Rows
    already marked are left alone (no row lock on the write path)."""
    with conn.cursor() as cur:
        for symbol, provider in sorted(set(pairs)):
            cur.execute(
                """
                INSERT INTO symbols (symbol, provider, stored) VALUES ($1, $2, true)
                ON CONFLICT (symbol, provider) DO NOTHING
                """,
                parameters=(symbol, provider),
            )
            if cur.rowcount == 0:  # listed before: mark it stored (once)
                cur.execute(
                    "UPDATE symbols SET stored = true "
                    "WHERE symbol = $1 AND provider = $2 AND NOT stored",
                    parameters=(symbol, provider),
                )


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(conn: Connection, query: SymbolSearch) -> SymbolPage:
    """One page of the symbols matching `query`: the exact symbol first, then symbols starting
    with the query, then the rest (symbol or name containing it), alphabetical within each.
    Filters apply to the symbol across providers: its type is the first non-empty one its
    providers give, `provider` keeps symbols that provider lists or has stored."""
    q = query.query.strip().upper()
    pattern = _like(q)
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH g AS (
                SELECT symbol,
                       (array_agg(name ORDER BY name = '', provider))[1] AS name,
                       (array_agg(type ORDER BY type = '', provider))[1] AS type,
                       array_to_string(array_agg(DISTINCT provider), ',') AS providers,
                       string_agg(array_to_string(intervals, ','), ',') AS intervals,
                       (jsonb_agg(metadata ORDER BY provider)
                           FILTER (WHERE metadata <> '{}'::jsonb))::text AS metadata,
                       CASE WHEN symbol = $3 THEN 0 WHEN symbol LIKE $4 || '%' THEN 1 ELSE 2 END
                           AS rank
                FROM symbols GROUP BY symbol
                HAVING ($1 = '' OR bool_or(provider = $1))
                   AND ($3 = '' OR symbol LIKE '%' || $4 || '%'
                        OR bool_or(upper(name) LIKE '%' || $4 || '%'))
            )
            SELECT symbol, name, type, providers, coalesce(intervals, ''), count(*) OVER (),
                   metadata
            FROM g WHERE ($2 = '' OR type = lower($2))
            ORDER BY rank, symbol
            LIMIT $5 OFFSET $6
            """,
            parameters=(query.provider, query.type, q, pattern, query.limit, query.offset),
        )
        rows = cur.fetchall()
    total = int(rows[0][5]) if rows else _count(conn, query) if query.offset else 0
    return SymbolPage([_symbol(row) for row in rows], total)


def _count(conn: Connection, query: SymbolSearch) -> int:
    """The number of matches (for a page past the end)."""
    page = search(conn, SymbolSearch(query.query, query.type, query.provider, 1, 0))
    return page.total


def _symbol(row: Sequence[object]) -> CatalogSymbol:
    symbol, name, type_, providers, intervals = (str(v or "") for v in row[:5])
    present = {i for i in intervals.split(",") if i}
    metadata: dict[str, str] = {}
    for listed in json.loads(str(row[6] or "[]")):  # by provider: the first one's value wins
        for key, value in listed.items():
            metadata.setdefault(key, str(value))
    return CatalogSymbol(
        symbol=symbol,
        name=name,
        type=type_,
        providers=tuple(sorted(p for p in providers.split(",") if p)),
        intervals=tuple(i for i in INTERVALS if i in present),
        metadata=metadata,
    )


def listed_by(conn: Connection, provider: str) -> list[CatalogEntry]:
    """What `provider` listed at its last refresh, by symbol."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT symbol, name, type, array_to_string(intervals, ','), metadata::text
            FROM symbols WHERE provider = $1 AND listed ORDER BY symbol
            """,
            parameters=(provider,),
        )
        rows = cur.fetchall()
    return [
        CatalogEntry(
            str(s), str(n), str(t), tuple(i for i in str(iv).split(",") if i), json.loads(str(md))
        )
        for s, n, t, iv, md in rows
    ]
