"""The symbol catalogue through gRPC: providers' GetSymbols refreshed into the database, the
gateway's own federated GetSymbols, timebase.v1 SearchSymbols and RefreshSymbols, and symbols
served but never listed joining once their bars are stored (on PostgreSQL and TimescaleDB)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import pyarrow as pa
import pytest
from google.protobuf import empty_pb2

from tests.gateway.support import DAY, T0, Gateway, RecordingProvider, request, running_gateway
from tests.support.eventually import eventually
from timebase.audit import AuditFilter
from timebase.auth import Caller, Scope
from timebase.gateway.catalogue import SymbolCatalogue
from timebase.gateway.query import QueryApi
from timebase.sdk import SymbolInfo
from timebase.sdk.errors import PermissionDenied
from timebase.store.symbols import SymbolSearch
from timebase.v1 import bars_pb2 as v1


class Lister(RecordingProvider):
    """A RecordingProvider whose catalogue the test sets (`listed`)."""

    def __init__(self, slug: str, listed: Sequence[SymbolInfo]) -> None:
        super().__init__(slug)
        self.listed = list(listed)

    async def symbols(self) -> Sequence[SymbolInfo]:
        return self.listed


ALPHA = [
    SymbolInfo("ACME", "Acme Corporation", "equity", ("1d",), {"exchange": "XNYS"}),
    SymbolInfo("ACMX", "Acme Mining", "equity"),
    SymbolInfo("BOTH", "Shared Holdings", "etf", ("1h",)),
]
BETA = [
    SymbolInfo("BOTH", "", "", ("1d",)),
    SymbolInfo("COINACME", "Acme Coin", "crypto"),
]


def providers() -> tuple[Lister, Lister, RecordingProvider]:
    return Lister("alpha", ALPHA), Lister("beta", BETA), RecordingProvider("plain")


async def search(gw: Gateway, **fields: Any) -> tuple[list[tuple[Any, ...]], int, int]:
    reply = await gw.v1.SearchSymbols(v1.SearchSymbolsRequest(**fields), timeout=10)
    rows = [(s.symbol, s.name, s.type, list(s.providers), list(s.intervals)) for s in reply.symbols]
    return rows, reply.total, reply.next_offset


async def refresh(gw: Gateway, provider: str = "") -> dict[str, int]:
    reply = await gw.v1.RefreshSymbols(v1.RefreshSymbolsRequest(provider=provider), timeout=10)
    return dict(reply.symbols)


async def test_refresh_stores_listed_symbols_and_skips_unimplemented(database_url: str) -> None:
    async with running_gateway(database_url, *providers()) as gw:
        # plain answers UNIMPLEMENTED: no catalogue, left out
        assert await refresh(gw) == {"alpha": 3, "beta": 2}
        rows, total, next_offset = await search(gw)
        assert rows == [
            ("ACME", "Acme Corporation", "equity", ["alpha"], ["1d"]),
            ("ACMX", "Acme Mining", "equity", ["alpha"], []),
            ("BOTH", "Shared Holdings", "etf", ["alpha", "beta"], ["1h", "1d"]),
            ("COINACME", "Acme Coin", "crypto", ["beta"], []),
        ]
        assert (total, next_offset) == (4, 0)


async def test_search_by_prefix_substring_name_type_and_provider(database_url: str) -> None:
    async with running_gateway(database_url, *providers()) as gw:
        await refresh(gw)
        # the exact symbol first, then symbols starting with the query, then the rest
        rows, total, _ = await search(gw, query="acme")
        # ACMX matches by its name ("Acme Mining"), COINACME by substring
        assert [r[0] for r in rows] == ["ACME", "ACMX", "COINACME"]
        assert total == 3
        assert [r[0] for r in (await search(gw, query="ACM"))[0]] == ["ACME", "ACMX", "COINACME"]
        assert [r[0] for r in (await search(gw, query="holdings"))[0]] == ["BOTH"]
        assert [r[0] for r in (await search(gw, type="Crypto"))[0]] == ["COINACME"]
        assert [r[0] for r in (await search(gw, query="acme", provider="beta"))[0]] == ["COINACME"]
        assert (await search(gw, query="%"))[0] == []  # LIKE wildcards are literal
        # paged
        assert await search(gw, limit=2) == (
            [
                ("ACME", "Acme Corporation", "equity", ["alpha"], ["1d"]),
                ("ACMX", "Acme Mining", "equity", ["alpha"], []),
            ],
            4,
            2,
        )
        rows, total, next_offset = await search(gw, limit=2, offset=2)
        assert ([r[0] for r in rows], total, next_offset) == (["BOTH", "COINACME"], 4, 0)


async def test_bad_search_is_invalid_argument_naming_the_field(database_url: str) -> None:
    async with running_gateway(database_url) as gw:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await search(gw, limit=1001)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == "limit: must be 1 to 1000 (got 1001)"
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await refresh(gw, "nobody")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert info.value.details() == "provider: no provider 'nobody'"


async def test_a_refresh_replaces_what_a_provider_listed(database_url: str) -> None:
    alpha, beta, plain = providers()
    async with running_gateway(database_url, alpha, beta, plain) as gw:
        await refresh(gw)
        beta.listed = [SymbolInfo("BETANEW", "New", "fx")]
        assert await refresh(gw, "beta") == {"beta": 1}
        rows, _, _ = await search(gw)
        assert [(r[0], r[3]) for r in rows] == [
            ("ACME", ["alpha"]),
            ("ACMX", ["alpha"]),
            ("BETANEW", ["beta"]),
            ("BOTH", ["alpha"]),
        ]


async def test_federated_get_symbols_is_the_union_with_providers_in_metadata(
    database_url: str,
) -> None:
    alpha, beta, plain = providers()
    # BOTH's metadata from both: a key both list is alpha's (the first provider by slug)
    alpha.listed[2] = SymbolInfo("BOTH", "Shared Holdings", "etf", ("1h",), {"exchange": "XNYS"})
    beta.listed[0] = SymbolInfo("BOTH", "", "", ("1d",), {"exchange": "ARCX", "isin": "US01"})
    async with running_gateway(database_url, alpha, beta, plain) as gw:
        await refresh(gw)
        reply = await gw.data.GetSymbols(empty_pb2.Empty(), timeout=10)
        assert [
            (s.symbol, s.name, s.type, list(s.intervals), dict(s.metadata)) for s in reply.symbols
        ] == [
            ("ACME", "Acme Corporation", "equity", ["1d"],
             {"exchange": "XNYS", "providers": "alpha"}),
            ("ACMX", "Acme Mining", "equity", [], {"providers": "alpha"}),
            ("BOTH", "Shared Holdings", "etf", ["1h", "1d"],
             {"exchange": "XNYS", "isin": "US01", "providers": "alpha,beta"}),
            ("COINACME", "Acme Coin", "crypto", [], {"providers": "beta"}),
        ]  # fmt: skip


async def test_symbols_served_but_never_listed_join_once_stored(database_url: str) -> None:
    async with running_gateway(database_url, *providers()) as gw:
        await refresh(gw)
        bars = [
            b
            async for b in gw.data.GetHistoricalData(
                request("ZZTOP", "1d", T0, T0 + 3 * DAY, provider="plain"), timeout=10
            )
        ]
        assert len(bars) == 3
        assert (await search(gw, query="zztop"))[0] == [("ZZTOP", "", "", ["plain"], [])]
        # a listed symbol served by another provider gains that provider too
        async for _ in gw.data.GetHistoricalData(
            request("ACME", "1d", T0, T0 + DAY, provider="plain"), timeout=10
        ):
            pass
        assert (await search(gw, query="ACME"))[0][0] == (
            "ACME", "Acme Corporation", "equity", ["alpha", "plain"], ["1d"],
        )  # fmt: skip
        # and a later refresh keeps what was stored (it is no longer listed by anyone)
        gw.providers["alpha"].listed = []  # type: ignore[attr-defined]
        await refresh(gw, "alpha")
        assert (await search(gw, query="ACME"))[0][0] == ("ACME", "", "", ["plain"], [])
        # bars imported under a data set's name (no add-on runs it) join it too
        table = await gw.store.read_table("ZZTOP", "1d", T0, T0 + 3 * DAY, provider="plain")
        provider = table.schema.get_field_index("provider")
        imported = table.set_column(provider, "provider", pa.array(["my-import"] * 3))
        await gw.store.ingest(imported)
        assert (await search(gw, query="zztop"))[0] == [
            ("ZZTOP", "", "", ["my-import", "plain"], [])
        ]
        assert (await search(gw, provider="my-import"))[1] == 1


async def test_the_catalogue_asks_each_provider_when_it_becomes_ready(database_url: str) -> None:
    async with running_gateway(database_url, *providers()) as gw:
        catalogue = SymbolCatalogue(gw.history, refresh_interval=0)
        await catalogue.start()
        try:

            async def all_listed() -> bool:
                return (await catalogue.search(SymbolSearch())).total == 4

            await eventually(all_listed, what="alpha's and beta's symbols stored")
            page = await catalogue.search(SymbolSearch())
            assert [s.symbol for s in page.symbols] == ["ACME", "ACMX", "BOTH", "COINACME"]
        finally:
            await catalogue.stop()


async def test_the_catalogue_refreshes_on_its_schedule_into_the_database(
    database_url: str,
) -> None:
    """With `refresh_interval` set, a provider is asked again on the schedule (nothing else
    would ask it: it neither restarts nor moves); what it lists is stored in the database, so
    a later gateway on that database finds it without asking anyone."""
    alpha, beta, plain = providers()
    async with running_gateway(database_url, alpha, beta, plain) as gw:
        catalogue = SymbolCatalogue(gw.history, refresh_interval=1)
        await catalogue.start()
        try:

            async def symbols() -> list[str]:
                return [s.symbol for s in (await catalogue.search(SymbolSearch())).symbols]

            async def listed_at_start() -> bool:
                return await symbols() == ["ACME", "ACMX", "BOTH", "COINACME"]

            await eventually(listed_at_start, what="the providers' symbols stored at start")
            beta.listed = [SymbolInfo("BETANEW", "Beta New", "fx", ("1d",))]
            alpha.listed = ALPHA[:1]

            async def listed_again() -> bool:
                return await symbols() == ["ACME", "BETANEW"]

            await eventually(listed_again, within=15, what="the scheduled refresh's symbols")
        finally:
            await catalogue.stop()
    # a gateway without any provider, on the same database: the stored catalogue
    async with running_gateway(database_url) as gw:
        rows, total, _ = await search(gw)
        assert (rows, total) == (
            [
                ("ACME", "Acme Corporation", "equity", ["alpha"], ["1d"]),
                ("BETANEW", "Beta New", "fx", ["beta"], ["1d"]),
            ],
            2,
        )
        assert [(s.symbol, dict(s.metadata)) for s in await gw.store.listed_symbols("alpha")] == [
            ("ACME", {"exchange": "XNYS"})
        ]


async def test_refresh_needs_the_write_scope_and_is_audited(database_url: str) -> None:
    async with running_gateway(database_url, *providers()) as gw:
        api = QueryApi(gw.history)
        reader = Caller(Scope.READ, "rest", "127.0.0.1", "viewer", "tb_view")
        with pytest.raises(PermissionDenied) as info:
            await api.refresh_symbols(caller=reader)
        assert info.value.message == (
            "refreshing the symbol catalogue needs the 'write' scope; key 'viewer' has 'read'"
        )
        assert (await api.search_symbols(SymbolSearch())).total == 0  # nothing was asked
        writer = Caller(Scope.WRITE, "rest", "127.0.0.1", "writer", "tb_writ")
        assert await api.refresh_symbols("alpha", caller=writer) == {"alpha": 3}
        page = await api.audit.page(AuditFilter(action="refresh_symbols"))
        assert [(r.key_name, r.provider, r.outcome, r.rows) for r in page.records] == [
            ("writer", "alpha", "ok", 3),
            ("viewer", None, "PERMISSION_DENIED", None),
        ]
