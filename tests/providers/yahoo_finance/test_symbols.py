"""yahoo-finance GetSymbols: the configured watch list, or nothing."""

from __future__ import annotations

from types import ModuleType

import grpc
import pytest
from google.protobuf import empty_pb2

from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Manifest, ProviderServer
from timebase.sdk.errors import ConfigError


async def _listed(provider: object) -> list[tuple[str, str]]:
    async with (
        ProviderServer(provider) as server,  # type: ignore[arg-type]
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        reply = await pb_grpc.DataProviderStub(channel).GetSymbols(empty_pb2.Empty())
    return [(s.symbol, s.type) for s in reply.symbols]


async def test_watch_list_is_listed_with_types_from_the_ticker(
    yahoo: ModuleType, manifest: Manifest
) -> None:
    options = manifest.validate_options({"watch_list": " aapl, ^GSPC,EURUSD=X,CL=F,AAPL ,"})
    provider = yahoo.YahooFinanceProvider(manifest, options)
    assert await _listed(provider) == [
        ("AAPL", ""), ("^GSPC", "index"), ("EURUSD=X", "fx"), ("CL=F", "future"),
    ]  # fmt: skip


async def test_without_watch_list_nothing_is_listed(yahoo: ModuleType, manifest: Manifest) -> None:
    provider = yahoo.YahooFinanceProvider(manifest, manifest.validate_options({}))
    assert await _listed(provider) == []


def test_watch_list_entry_that_is_no_ticker_is_refused(
    yahoo: ModuleType, manifest: Manifest
) -> None:
    options = manifest.validate_options({"watch_list": "AAPL,SYN:ACME"})
    with pytest.raises(ConfigError) as info:
        yahoo.YahooFinanceProvider(manifest, options)
    assert info.value.message == "options: watch_list: 'SYN:ACME' is not a Yahoo ticker"
