"""ccxt on recorded Binance responses: exact values, pagination, limits, real time, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import grpc
import pytest

from tests.providers.ccxt.conftest import OPTIONS, RECORDINGS, load_module
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import (
    Manifest,
    ProviderServer,
    Subscription,
    Subscriptions,
    retry_after_from_metadata,
)
from timebase.sdk.errors import ConfigError
from timebase.sdk.testing import fetch_chunk_rows, fetch_rows
from timebase.sdk.wire import Row, to_timestamp_pb

BINANCE = RECORDINGS / "binance"
# Read at import (not on the event loop): the recorded klines, by file name.
_KLINES = {p.name: json.loads(p.read_text()) for p in BINANCE.glob("klines_*_*.json")}
HOUR_MS = 3_600_000


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def ms(ts: datetime) -> int:
    return int(ts.timestamp()) * 1000


def recorded_row(name: str, index: int, metadata: tuple[tuple[str, str], ...] = ()) -> Row:
    """Row `index` of a recorded klines file, as the provider must send it."""
    k = _KLINES[name][index]
    o, h, low, c, v = (float(x) for x in k[1:6])
    return Row(int(k[0]) * 1000, o, h, low, c, v, metadata)


def request(symbol: str, interval: str, start: datetime, end: datetime, **kw: Any) -> Any:
    return pb.HistoricalDataRequest(
        symbol=symbol,
        interval=interval,
        start_time=to_timestamp_pb(start),
        end_time=to_timestamp_pb(end),
        **kw,
    )


@pytest.fixture
async def stub(inprocess_target: str) -> AsyncIterator[pb_grpc.DataProviderAsyncStub]:
    async with grpc.aio.insecure_channel(inprocess_target) as channel:
        yield pb_grpc.DataProviderStub(channel)


async def rows(stub: pb_grpc.DataProviderAsyncStub, *args: Any, **kw: Any) -> list[Row]:
    req = request(*args, **kw)
    per_bar = await fetch_rows(stub, req)
    assert await fetch_chunk_rows(stub, req) == per_bar
    return per_bar


async def failure(stub: pb_grpc.DataProviderAsyncStub, *args: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await fetch_rows(stub, request(*args))
    return info.value


async def test_daily_candles_have_binance_values(stub: pb_grpc.DataProviderAsyncStub) -> None:
    got = await rows(stub, "BINANCE:BTC-USDT", "1d", utc(2024, 1, 1), utc(2024, 1, 4))
    assert got == [recorded_row("klines_BTCUSDT_1d.json", i) for i in range(3)]
    assert got[0] == Row(
        ms(utc(2024, 1, 1)) * 1000, 42283.58, 42465.35, 42177.87, 42401.75, 30781.37063, ()
    )


async def test_symbols_are_case_insensitive(stub: pb_grpc.DataProviderAsyncStub) -> None:
    got = await rows(stub, "binance:eth-usdt", "1d", utc(2024, 1, 30), utc(2024, 2, 2))
    assert got == [
        recorded_row("klines_ETHUSDT_1d.json", 29),
        recorded_row("klines_ETHUSDT_1d.json", 30),
    ]


async def test_history_is_paginated_from_the_start(provider: Any) -> None:
    bars = [
        b async for b in provider.get_historical_data(
            "BINANCE:BTC-USDT", "1h", utc(2024, 1, 1), utc(2024, 2, 20), None
        )
    ]  # fmt: skip
    assert len(bars) == 1200
    assert [b.timestamp for b in bars[999:1001]] == [utc(2024, 2, 11, 15), utc(2024, 2, 11, 16)]
    # One markets load, then pages of Binance's 1000 candles, each after the last one seen.
    assert provider.clients["binance"].session.calls == [
        "GET /api/v3/exchangeInfo",
        f"GET /api/v3/klines?interval=1h&limit=1000&symbol=BTCUSDT&startTime={ms(utc(2024, 1, 1))}",
        f"GET /api/v3/klines?interval=1h&limit=1000&symbol=BTCUSDT&startTime={ms(utc(2024, 2, 11, 15)) + 1}",
    ]


async def test_limit_fetches_only_the_newest_candles(provider: Any) -> None:
    bars = [
        b async for b in provider.get_historical_data(
            "BINANCE:BTC-USDT", "1h", utc(2024, 1, 1), utc(2024, 2, 20), 4
        )
    ]  # fmt: skip
    assert [b.timestamp for b in bars] == [utc(2024, 2, 19, h) for h in (20, 21, 22, 23)]
    assert provider.clients["binance"].session.calls[1:] == [
        f"GET /api/v3/klines?interval=1h&limit=1000&symbol=BTCUSDT&startTime={ms(utc(2024, 2, 19, 20))}"
    ]


async def test_limit_reaches_back_over_gaps(provider: Any) -> None:
    # ETHUSDT's daily recording ends on January 31st: the newest 4 days before February 10th
    # are empty, the 8 before them hold January 29th to 31st (3), the 16 before those the rest.
    bars = [
        b async for b in provider.get_historical_data(
            "BINANCE:ETH-USDT", "1d", utc(2024, 1, 1), utc(2024, 2, 10), 4
        )
    ]  # fmt: skip
    assert [b.timestamp for b in bars] == [utc(2024, 1, d) for d in (28, 29, 30, 31)]
    klines = "GET /api/v3/klines?interval=1d&limit=1000&symbol=ETHUSDT&startTime="
    assert provider.clients["binance"].session.calls[1:] == [
        klines + str(ms(utc(2024, 2, 6))),  # [Feb 6, Feb 10): nothing
        klines + str(ms(utc(2024, 1, 29))),  # [Jan 29, Feb 6): Jan 29 to 31, then
        klines + str(ms(utc(2024, 1, 31)) + 1),  # the page after them: nothing
        klines + str(ms(utc(2024, 1, 13))),  # [Jan 13, Jan 29): 16 days, enough
    ]


async def test_listed_market_without_candles_is_empty(stub: pb_grpc.DataProviderAsyncStub) -> None:
    assert await rows(stub, "BINANCE:ETH-USDT", "1h", utc(2024, 1, 1), utc(2024, 1, 2)) == []


async def test_unknown_market_is_not_found(stub: pb_grpc.DataProviderAsyncStub) -> None:
    error = await failure(stub, "BINANCE:NOPE-USDT", "1d", utc(2024, 1, 1), utc(2024, 1, 2))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "binance has no spot market NOPE/USDT"


async def test_exchange_not_in_the_option_is_not_found(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    error = await failure(stub, "COINBASE:BTC-USD", "1d", utc(2024, 1, 1), utc(2024, 1, 2))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert (
        error.details() == "exchange 'coinbase' is not served (option exchanges: binance, kraken)"
    )


async def test_rate_limit_is_resource_exhausted_with_retry_after(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    error = await failure(stub, "BINANCE:DOGE-USDT", "1d", utc(2024, 1, 1), utc(2024, 1, 2))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == "binance rate limit (DDoSProtection)"
    assert retry_after_from_metadata(error.trailing_metadata()) == 30.0  # Binance's Retry-After


async def test_exchange_failures_are_unavailable(stub: pb_grpc.DataProviderAsyncStub) -> None:
    error = await failure(stub, "BINANCE:XRP-USDT", "1d", utc(2024, 1, 1), utc(2024, 1, 2))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "binance unreachable or unavailable (OperationFailed)"
    # Kraken has no recordings: its markets endpoint answers 404.
    error = await failure(stub, "KRAKEN:BTC-USD", "1d", utc(2024, 1, 1), utc(2024, 1, 2))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "kraken unreachable or unavailable (ExchangeNotAvailable)"


async def test_interval_the_exchange_lacks_is_unimplemented(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    error = await failure(stub, "KRAKEN:BTC-USD", "1mo", utc(2024, 1, 1), utc(2024, 3, 1))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == (
        "kraken has no 1mo candles (its intervals: 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk)"
    )


async def test_health_lists_each_exchange_intervals(provider: Any) -> None:
    report = await provider.health()
    assert report.message == "exchanges: binance, kraken"
    assert dict(report.metrics) == {
        "intervals.binance": "1m,5m,15m,30m,1h,4h,1d,1wk,1mo",
        "intervals.kraken": "1m,5m,15m,30m,1h,4h,1d,1wk",
    }


async def sleep_forever() -> None:
    await asyncio.Event().wait()


async def test_real_time_polls_the_newest_candles(
    ccxt_provider: ModuleType, manifest: Manifest
) -> None:
    options = manifest.validate_options({**OPTIONS, "poll_seconds": 0.05})
    provider = ccxt_provider.CcxtProvider(manifest, options)
    async with (
        ProviderServer(provider, port=0) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        stub = pb_grpc.DataProviderStub(channel)

        async def controls() -> AsyncIterator[pb.StreamControl]:
            yield pb.StreamControl(
                action=pb.StreamControl.SUBSCRIBE, symbol="binance:btc-usdt", interval="1h"
            )
            await sleep_forever()

        call = stub.StreamRealTimeData(controls())
        seen: list[pb.TimeSeriesData] = []
        async with asyncio.timeout(30):  # a guard against a hang, not a speed claim
            async for msg in call:
                seen.append(msg)
                if len(seen) == 2:
                    break
        call.cancel()
    # The two newest recorded candles, both over (the recording is in the past): final.
    last = _KLINES["klines_BTCUSDT_1h.json"][-2:]
    assert [(m.symbol, m.interval, m.provider) for m in seen] == [
        ("BINANCE:BTC-USDT", "1h", "ccxt")
    ] * 2
    assert [m.timestamp.ToMilliseconds() for m in seen] == [k[0] for k in last]
    assert [(m.open, m.close, m.volume) for m in seen] == [
        (float(k[1]), float(k[4]), float(k[5])) for k in last
    ]
    assert [dict(m.metadata) for m in seen] == [{"final": "true"}] * 2


async def test_real_time_sends_unchanged_candles_once(provider: Any) -> None:
    subscriptions = Subscriptions()
    subscriptions.subscribe(Subscription("BINANCE:BTC-USDT", "1h"))
    provider.poll_seconds = 0.01
    stream = provider.stream_real_time(subscriptions)
    first = [await anext(stream), await anext(stream)]
    assert [b.bar.timestamp for b in first] == [utc(2024, 2, 19, 22), utc(2024, 2, 19, 23)]
    calls = provider.clients["binance"].session.calls
    polls = len(calls)
    third = asyncio.create_task(anext(stream))
    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a speed claim
            while len(calls) < polls + 3:  # noqa: ASYNC110 - counting the provider's polls
                await asyncio.sleep(0.01)
        # Three polls answered the same candles: nothing new was yielded.
        assert not third.done()
    finally:
        third.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await third
        await stream.aclose()
    assert calls[-1] == "GET /api/v3/klines?interval=1h&limit=2&symbol=BTCUSDT"


async def test_real_time_unknown_market_ends_the_stream(
    stub: pb_grpc.DataProviderAsyncStub,
) -> None:
    async def controls() -> AsyncIterator[pb.StreamControl]:
        yield pb.StreamControl(
            action=pb.StreamControl.SUBSCRIBE, symbol="BINANCE:NOPE-USDT", interval="1m"
        )
        await sleep_forever()

    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.StreamRealTimeData(controls()):
            pass
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_unknown_exchange_option_fails_at_start(
    ccxt_provider: ModuleType, manifest: Manifest
) -> None:
    options = manifest.validate_options({"exchanges": "binance,nosuchexchange"})
    provider = ccxt_provider.CcxtProvider(manifest, options)
    with pytest.raises(
        ConfigError, match=r"options.exchanges: unknown ccxt exchange\(s\) nosuchexchange"
    ):
        await provider.start()


def test_exchanges_option_is_validated(manifest: Manifest) -> None:
    with pytest.raises(ConfigError, match="exchanges"):
        manifest.validate_options({"exchanges": "binance kraken"})


def test_symbol_scheme() -> None:
    symbols = load_module("ccxt_symbols")
    name = symbols.parse_symbol("BINANCE:BTC-USDT")
    assert (name.exchange, name.market) == ("binance", "BTC/USDT")
    assert symbols.parse_symbol("kraken:eth-eur").market == "ETH/EUR"
    assert symbols.to_symbol("binance", "BTC/USDT") == "BINANCE:BTC-USDT"
    assert symbols.parse_exchanges(" Binance,kraken,,binance ") == ("binance", "kraken")
    assert symbols.intervals_of({"1m": 60, "1w": 1, "1M": 2, "3d": 3}) == ["1m", "1wk", "1mo"]
    for bad in ("BTC-USDT", "BINANCE:BTCUSDT", "BINANCE:BTC/USDT", "X:BTC-USDT"):
        with pytest.raises(Exception, match="is not EXCHANGE:BASE-QUOTE"):
            symbols.parse_symbol(bad)


def test_manifest_symbol_pattern(manifest: Manifest) -> None:
    for served in ("BINANCE:BTC-USDT", "KRAKEN:XBT-EUR", "BINANCEUS:1INCH-USD"):
        assert manifest.serves_symbol(served), served
    for foreign in ("AAPL", "BTC-USD", "SYN:ACME", "BINANCE:BTC/USDT", "BINANCE:BTC-USDT:USDT"):
        assert not manifest.serves_symbol(foreign), foreign


def test_error_mapping() -> None:
    import ccxt

    errors = load_module("ccxt_errors")
    from timebase.sdk import (
        AuthFailed,
        InvalidArgument,
        NotSupported,
        RateLimited,
        SymbolNotFound,
        UpstreamUnavailable,
    )

    cases = [
        (ccxt.BadSymbol("x"), SymbolNotFound),
        (ccxt.RateLimitExceeded("x"), RateLimited),
        (ccxt.DDoSProtection("x"), RateLimited),
        (ccxt.AuthenticationError("x"), AuthFailed),
        (ccxt.PermissionDenied("x"), AuthFailed),
        (ccxt.NotSupported("x"), NotSupported),
        (ccxt.BadRequest("x"), InvalidArgument),
        (ccxt.RequestTimeout("x"), UpstreamUnavailable),
        (ccxt.OnMaintenance("x"), UpstreamUnavailable),
        (ccxt.ExchangeNotAvailable("x"), UpstreamUnavailable),
        (ccxt.BadResponse("x"), UpstreamUnavailable),
        (ccxt.ExchangeError("x"), UpstreamUnavailable),
        (ValueError("x"), UpstreamUnavailable),
    ]
    for exc, expected in cases:
        assert type(errors.map_error(exc, "binance", "BTC/USDT")) is expected, exc
    limited = errors.map_error(
        ccxt.RateLimitExceeded("x"), "binance", "BTC/USDT", {"retry-after": "7"}
    )
    assert limited.retry_after == 7.0
    assert errors.map_error(ccxt.RateLimitExceeded("x"), "binance", "BTC/USDT").retry_after == 60.0
