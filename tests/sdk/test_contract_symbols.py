"""The contract kit checks GetSymbols: `ProviderContract.test_symbols_catalogue` against a raw
gRPC provider (not the SDK, which would normalise its answers) that lists what each case sets,
or answers UNIMPLEMENTED: every malformed catalogue fails with its own message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from timebase.provider import provider_pb2 as pb
from timebase.sdk import parse_manifest
from timebase.sdk.testing import ContractCase, ProviderContract

MANIFEST = parse_manifest(
    {"name": "Raw", "version": "0.1", "slug": "raw", "intervals": ["1h", "1d"],
     "symbols": ["RAW:[A-Z]+"]}
)  # fmt: skip


class RawProvider:
    """Serves only `timebase.provider.DataProvider/GetSymbols`: `listed` as given, or
    UNIMPLEMENTED when it is None."""

    def __init__(self) -> None:
        self.listed: list[pb.SymbolInfo] | None = None

    async def get_symbols(
        self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.SymbolList:
        if self.listed is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no catalogue")
        return pb.SymbolList(symbols=self.listed)

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        method = grpc.unary_unary_rpc_method_handler(
            self.get_symbols,
            request_deserializer=empty_pb2.Empty.FromString,
            response_serializer=pb.SymbolList.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(
            "timebase.provider.DataProvider", {"GetSymbols": method}
        )


@pytest.fixture
async def raw() -> AsyncIterator[tuple[RawProvider, str]]:
    provider = RawProvider()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((provider.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield provider, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def case(target: str, lists: bool | None, listed: tuple[str, ...] = ()) -> ContractCase:
    day = datetime(2024, 1, 2, tzinfo=UTC)
    return ContractCase(
        target=target,
        manifest=MANIFEST,
        symbol="RAW:ONE",
        start=day,
        end=day,
        lists_symbols=lists,
        listed_symbols=listed,
        timeout=10,
    )


async def failure(contract: ContractCase) -> str:
    """The first line of the kit's failure (pytest may append its own explanation)."""
    with pytest.raises(AssertionError) as info:
        await ProviderContract().test_symbols_catalogue(contract)
    return str(info.value).splitlines()[0]


def info(symbol: str, *intervals: str) -> pb.SymbolInfo:
    return pb.SymbolInfo(symbol=symbol, name="n", type="equity", intervals=intervals)


async def test_a_well_formed_catalogue_passes(raw: tuple[RawProvider, str]) -> None:
    provider, target = raw
    provider.listed = [info("RAW:ONE", "1d"), info("RAW:TWO")]
    kit = ProviderContract()
    await kit.test_symbols_catalogue(case(target, True, ("RAW:ONE", "RAW:TWO")))
    await kit.test_symbols_catalogue(case(target, None))
    provider.listed = None  # UNIMPLEMENTED is fine unless the provider must list
    await kit.test_symbols_catalogue(case(target, False))
    await kit.test_symbols_catalogue(case(target, None))


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ([info("RAW:ONE"), info("RAW:ONE")], "GetSymbols listed a symbol twice"),
        ([info("raw:one")], "'raw:one': not normalised"),
        ([info(" RAW:ONE")], "' RAW:ONE': not normalised"),
        ([info("AAPL")], "'AAPL': the manifest does not serve it"),
        ([info("RAW:ONE", "1d", "5m")], "'RAW:ONE': intervals the manifest lacks: {'5m'}"),
        ([info("RAW:ONE")], "GetSymbols does not list ['RAW:TWO']"),
    ],
)
async def test_a_malformed_catalogue_fails_naming_what(
    raw: tuple[RawProvider, str], listed: list[pb.SymbolInfo], message: str
) -> None:
    provider, target = raw
    provider.listed = listed
    assert await failure(case(target, True, ("RAW:TWO",) if "RAW:TWO" in message else ())) == (
        message
    )


async def test_listing_or_not_must_be_what_the_case_says(raw: tuple[RawProvider, str]) -> None:
    provider, target = raw
    assert await failure(case(target, True)) == "GetSymbols answered UNIMPLEMENTED"
    provider.listed = [info("RAW:ONE")]
    assert await failure(case(target, False)) == "GetSymbols listed symbols"
    provider.listed = []  # an empty catalogue is a listing too
    assert await failure(case(target, False)) == "GetSymbols listed symbols"
