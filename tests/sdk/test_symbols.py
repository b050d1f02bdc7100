"""GetSymbols through the SDK: a provider's catalogue, UNIMPLEMENTED without one."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pytest
from google.protobuf import empty_pb2

from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Provider, ProviderServer, SymbolInfo, parse_manifest

MANIFEST = parse_manifest(
    {"name": "Fake", "version": "0.1", "slug": "fake", "intervals": ["1h", "1d"],
     "symbols": ["FAKE:[A-Z]+"]}
)  # fmt: skip


class Listing(Provider):
    def __init__(self, listed: Sequence[SymbolInfo]) -> None:
        super().__init__(MANIFEST)
        self.listed = listed

    async def symbols(self) -> Sequence[SymbolInfo]:
        return self.listed


async def _get_symbols(provider: Provider) -> list[tuple[str, str, str, list[str], dict[str, str]]]:
    async with (
        ProviderServer(provider) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        reply = await pb_grpc.DataProviderStub(channel).GetSymbols(empty_pb2.Empty())
    return [(s.symbol, s.name, s.type, list(s.intervals), dict(s.metadata)) for s in reply.symbols]


async def test_listed_symbols_normalised_unique_with_string_metadata() -> None:
    listed = [
        SymbolInfo("fake:acme", "Acme", "equity", ("1d",), {"exchange": "X", "lot": 100}),  # type: ignore[dict-item]
        SymbolInfo("FAKE:ACME", "Acme again"),
        SymbolInfo("FAKE:COIN", type="crypto"),
    ]
    assert await _get_symbols(Listing(listed)) == [
        ("FAKE:ACME", "Acme", "equity", ["1d"], {"exchange": "X", "lot": "100"}),
        ("FAKE:COIN", "", "crypto", [], {}),
    ]


async def test_empty_catalogue_is_an_empty_list() -> None:
    assert await _get_symbols(Listing([])) == []


async def test_without_symbols_method_unimplemented() -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _get_symbols(Provider(MANIFEST))
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details() == "provider 'fake' does not list its symbols"


async def test_listing_a_symbol_the_manifest_does_not_serve_is_internal() -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _get_symbols(Listing([SymbolInfo("AAPL")]))
    assert info.value.code() == grpc.StatusCode.INTERNAL
