"""The ccxt provider as a real process under the whole app: REST and gRPC, symbol in the URL path."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import grpc
import pytest

from tests.providers.ccxt.conftest import RECORDINGS
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, ProviderSettings
from timebase.server import TimeBaseApp
from timebase.v1 import bars_pb2, bars_pb2_grpc


async def test_bars_through_every_door_from_the_provider_process(
    fresh_database_url: str, tmp_path: Path
) -> None:
    options = {"exchanges": "binance", "recordings_dir": str(RECORDINGS)}
    app = TimeBaseApp(
        Config(
            grpc_port=0,
            flight_port=0,
            http_port=0,
            data_dir=tmp_path / "data",
            database=DatabaseConfig(url=fresh_database_url),
            providers=ProvidersConfig(
                enabled=("ccxt",),
                process_user="root",  # see tests/supervisor/test_privileges.py
                start_timeout_seconds=60.0,
                settings={"ccxt": ProviderSettings(options=options)},
            ),
        )
    )
    await app.start()
    try:
        state = app.supervisor.get("ccxt")
        assert state.ready, state.last_error
        assert state.pid is not None  # a real process, not in-process
        assert app.rest is not None
        base = f"http://127.0.0.1:{app.rest.port}"
        async with aiohttp.ClientSession() as http:
            url = f"{base}/api/data/BINANCE:BTC-USDT"
            # A date-only `end` includes that day: January 1st to 3rd.
            params = {"interval": "1d", "start": "2024-01-01", "end": "2024-01-03"}
            async with http.get(url, params=params) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
            async with http.get(f"{base}/api/data/BINANCE:NOPE-USDT", params=params) as missing:
                assert missing.status == 404
                error = await missing.json()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
            stub = bars_pb2_grpc.GatewayServiceStub(channel)
            request = bars_pb2.GetBarsRequest(symbol="kraken:btc-usd", interval="1d", limit=3)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                _ = [c async for c in stub.GetBars(request, timeout=60)]
    finally:
        await app.stop()
    data = body["data"]
    assert (data["symbol"], data["interval"], data["provider"], data["count"]) == (
        "BINANCE:BTC-USDT",
        "1d",
        "ccxt",
        3,
    )
    first = data["data"][0]
    assert first == {
        "timestamp": "2024-01-01T00:00:00Z",
        "open": 42283.58,
        "high": 42465.35,
        "low": 42177.87,
        "close": 42401.75,
        "volume": 30781.37063,
        "provider": "ccxt",
    }
    assert [r["timestamp"][:10] for r in data["data"]] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert error["error"]["code"] == "SYMBOL_NOT_FOUND", error
    # Kraken is not in this app's `exchanges` option.
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, info.value.details()
