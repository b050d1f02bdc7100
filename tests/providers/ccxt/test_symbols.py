"""The ccxt provider's catalogue (`GetSymbols`) on recorded exchange responses: every spot market
of the configured exchanges, unreachable exchanges left out, timeouts as UNAVAILABLE."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.protobuf.empty_pb2 import Empty

from tests.providers.ccxt.conftest import RECORDINGS
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Manifest, ProviderServer

#: Binance's timeframes (ccxt) as TimeBase intervals.
BINANCE_INTERVALS = ["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1wk", "1mo"]


@contextlib.asynccontextmanager
async def serving(
    ccxt_provider: ModuleType, manifest: Manifest, exchanges: str
) -> AsyncIterator[Any]:
    options = {"exchanges": exchanges, "recordings_dir": str(RECORDINGS), "timeout": 2.0}
    provider = ccxt_provider.CcxtProvider(manifest, manifest.validate_options(options))
    async with (
        ProviderServer(provider, port=0) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        yield pb_grpc.DataProviderStub(channel)


async def test_symbols_lists_the_spot_markets_of_the_configured_exchanges(
    ccxt_provider: ModuleType, manifest: Manifest
) -> None:
    # Kraken has no recordings (its markets request fails): left out, Binance still listed.
    async with serving(ccxt_provider, manifest, "binance,kraken") as stub:
        listed = (await stub.GetSymbols(Empty())).symbols
    assert [s.symbol for s in listed] == [
        "BINANCE:BTC-USDT",
        "BINANCE:DOGE-USDT",
        "BINANCE:ETH-USDT",
        "BINANCE:XRP-USDT",
    ]
    btc = listed[0]
    assert (btc.name, btc.type, list(btc.intervals)) == (
        "BTC/USDT on Binance",
        "crypto",
        BINANCE_INTERVALS,
    )
    assert dict(btc.metadata) == {
        "exchange": "binance",
        "market": "BTC/USDT",
        "base": "BTC",
        "quote": "USDT",
    }
    for symbol in listed:
        assert manifest.serves_symbol(symbol.symbol)


async def test_an_exchange_that_times_out_is_left_out(
    ccxt_provider: ModuleType, manifest: Manifest
) -> None:
    async with serving(ccxt_provider, manifest, "bitstamp,binance") as stub:
        listed = (await stub.GetSymbols(Empty())).symbols
    assert {s.metadata["exchange"] for s in listed} == {"binance"}
    assert len(listed) == 4


async def test_when_every_exchange_times_out_symbols_is_unavailable(
    ccxt_provider: ModuleType, manifest: Manifest
) -> None:
    async with serving(ccxt_provider, manifest, "bitstamp") as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.GetSymbols(Empty())
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert info.value.details() == "bitstamp unreachable or unavailable (RequestTimeout)"
