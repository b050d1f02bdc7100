"""The original TimeBase's end-to-end symbol steps against TimeBase: providers written with our
SDK, run as real processes and registered as remote providers; one implements GetSymbols, the
other answers UNIMPLEMENTED. The app asks them at start; every door finds the symbols."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from google.protobuf import empty_pb2

from tests.supervisor.conftest import make_config, provider_folder
from tests.supervisor.test_remote import FAR_PROVIDER, RemoteProcess, get, running_app
from tests.support.eventually import eventually
from timebase.core.config import DatabaseConfig, ProviderSettings
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

LISTER_MANIFEST = """\
name: Lister
version: "0.1.0"
slug: lister
intervals: [1d]
symbols: ['LST:[A-Z]+']
"""

LISTER_PROVIDER = """\
from datetime import timedelta
from timebase.sdk import Bar, Provider, SymbolInfo, serve

class Lister(Provider):
    async def symbols(self):
        return [
            SymbolInfo("LST:ONE", "Lister One", "equity", ["1d"], {"exchange": "XTST"}),
            SymbolInfo("LST:TWO", "Lister Two", "etf"),
        ]

    async def get_historical_data(self, symbol, interval, start, end, limit):
        yield Bar(end - timedelta(days=1), 5.0, 6.0, 4.0, 5.5, 10.0)

if __name__ == "__main__":
    serve(Lister)
"""


async def test_remote_providers_catalogue_through_every_door(
    fresh_database_url: str, data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    lister = RemoteProcess(
        await provider_folder(providers_root, "lister", LISTER_PROVIDER, manifest=LISTER_MANIFEST)
    )
    mute = RemoteProcess(await provider_folder(providers_root, "mute", FAR_PROVIDER))
    try:
        lister_port, mute_port = await lister.start(0), await mute.start(0)
        config = dataclasses.replace(
            make_config(
                data_dir,
                bundled_dir=empty_bundled,
                directories=(providers_root,),
                settings={
                    "lister": ProviderSettings(
                        runtime="remote", address=f"127.0.0.1:{lister_port}"
                    ),
                    "mute": ProviderSettings(runtime="remote", address=f"127.0.0.1:{mute_port}"),
                },
            ),
            grpc_port=0,
            flight_port=0,
            http_port=0,
            database=DatabaseConfig(url=fresh_database_url),
        )
        async with running_app(config) as app, aiohttp.ClientSession() as http:
            assert app.rest is not None
            base = f"http://127.0.0.1:{app.rest.port}"

            async def listed() -> bool:
                _, body = await get(http, f"{base}/api/symbols?q=lst")
                return bool(body["data"]["total"] == 2)

            await eventually(listed, within=30, what="the lister's symbols in the catalogue")

            # REST search
            status, body = await get(http, f"{base}/api/symbols?q=lst:o")
            assert status == 200, body
            assert body["data"]["symbols"] == [
                {
                    "symbol": "LST:ONE",
                    "name": "Lister One",
                    "type": "equity",
                    "providers": ["lister"],
                    "intervals": ["1d"],
                }
            ]
            # the original's listing route, both providers
            status, body = await get(http, f"{base}/api/providers/symbols?provider=lister")
            lister_symbols = [
                {
                    "symbol": "LST:ONE",
                    "name": "Lister One",
                    "type": "equity",
                    "intervals": ["1d"],
                    "metadata": {"exchange": "XTST", "providers": "lister"},
                },
                {
                    "symbol": "LST:TWO",
                    "name": "Lister Two",
                    "type": "etf",
                    "intervals": [],
                    "metadata": {"providers": "lister"},
                },
            ]
            assert (status, body) == (
                200,
                {
                    "provider": "lister",
                    "totalSymbols": 2,
                    "symbols": lister_symbols,
                    "providers": [{"slug": "lister", "name": "lister", "symbols": lister_symbols}],
                },
            )
            status, body = await get(http, f"{base}/api/providers/mute/symbols")
            assert (status, body) == (
                200,
                {
                    "provider": "mute",
                    "totalSymbols": 0,
                    "symbols": [],
                    "providers": [{"slug": "mute", "name": "mute", "symbols": []}],
                },
            )

            # the original's provider-aware data route = ours
            range_ = "interval=1d&start=2024-01-01&end=2024-01-10"
            status, alias = await get(http, f"{base}/api/data/X:ONE?provider=mute&{range_}")
            assert status == 200, alias
            status, direct = await get(http, f"{base}/api/providers/mute/data/X:ONE?{range_}")
            assert alias["data"] == direct["data"]
            assert [b["close"] for b in alias["data"]["data"]] == [10.0, 11.0, 12.0]

            # gRPC: the gateway's own GetSymbols (federated) and SearchSymbols; X:ONE was served
            # by mute (never listed) and joined the catalogue when its bars were stored
            async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
                data: Any = pb_grpc.DataProviderStub(channel)
                reply = await data.GetSymbols(empty_pb2.Empty(), timeout=10)
                assert [(s.symbol, dict(s.metadata)) for s in reply.symbols] == [
                    ("LST:ONE", {"exchange": "XTST", "providers": "lister"}),
                    ("LST:TWO", {"providers": "lister"}),
                    ("X:ONE", {"providers": "mute"}),
                ]
                gateway: Any = v1_grpc.GatewayServiceStub(channel)
                found = await gateway.SearchSymbols(
                    v1.SearchSymbolsRequest(query="x:", provider="mute"), timeout=10
                )
                assert [(s.symbol, list(s.providers)) for s in found.symbols] == [
                    ("X:ONE", ["mute"])
                ]
    finally:
        await lister.kill()
        await mute.kill()


# Like the original's minimal provider: a daily bar from the range's start, one a day (close 100,
# 101, ...), no catalogue.
MINIMAL_PROVIDER = """\
from datetime import timedelta
from timebase.sdk import Bar, Provider, serve

class Minimal(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        day, n = start, 0
        while day < end:
            yield Bar(day, 100.0 + n, 101.0 + n, 99.0 + n, 100.0 + n, 1000.0)
            day, n = day + timedelta(days=1), n + 1

if __name__ == "__main__":
    serve(Minimal)
"""


async def test_the_original_six_end_to_end_steps(
    fresh_database_url: str, data_dir: Path, empty_bundled: Path, providers_root: Path
) -> None:
    """The original TimeBase's end-to-end checks (its CI's six steps after start, the same
    requests and the same tests on the raw bodies) against a gateway serving a minimal provider
    written with our SDK, registered as a remote provider under the original's slug. Its
    provider has no catalogue (GetSymbols answers UNIMPLEMENTED), as the original's has none."""
    minimal = RemoteProcess(
        await provider_folder(providers_root, "minimal-provider", MINIMAL_PROVIDER)
    )
    try:
        port = await minimal.start(0)
        config = dataclasses.replace(
            make_config(
                data_dir,
                bundled_dir=empty_bundled,
                directories=(providers_root,),
                settings={
                    "minimal-provider": ProviderSettings(
                        runtime="remote", address=f"127.0.0.1:{port}"
                    )
                },
            ),
            grpc_port=0,
            flight_port=0,
            http_port=0,
            database=DatabaseConfig(url=fresh_database_url),
        )
        async with running_app(config) as app, aiohttp.ClientSession() as http:
            assert app.rest is not None
            base = f"http://127.0.0.1:{app.rest.port}"

            async def fetch(path: str) -> tuple[int, str]:
                async with http.get(base + path) as resp:
                    return resp.status, await resp.text()

            # 0. wait for core to be ready: /health/ready answers 200
            async def ready() -> bool:
                return (await fetch("/health/ready"))[0] == 200

            await eventually(ready, within=30, what="/health/ready 200")
            # 1. /health: grep '"status":"Healthy"'
            status, text = await fetch("/health")
            assert status == 200
            assert '"status":"Healthy"' in text, text
            # 2. /api/providers: grep 'minimal-provider'
            status, text = await fetch("/api/providers")
            assert status == 200
            assert "minimal-provider" in text
            # 3. /api/providers/minimal-provider: HTTP 200
            assert (await fetch("/api/providers/minimal-provider"))[0] == 200
            # 4. /api/providers/minimal-provider/symbols: grep '\['
            status, text = await fetch("/api/providers/minimal-provider/symbols")
            assert status == 200
            assert "[" in text
            assert json.loads(text) == {
                "provider": "minimal-provider",
                "totalSymbols": 0,
                "symbols": [],
                "providers": [
                    {"slug": "minimal-provider", "name": "minimal-provider", "symbols": []}
                ],
            }
            # 5. /api/providers/minimal-provider/data/TEST?interval=1d&start=<30 days ago>&end=
            # <today> (date +%Y-%m-%d): grep '"symbol"'
            today = datetime.now(UTC).date()
            range_ = f"interval=1d&start={today - timedelta(days=30)}&end={today}"
            status, text = await fetch(f"/api/providers/minimal-provider/data/TEST?{range_}")
            assert status == 200, text
            assert '"symbol"' in text
            body = json.loads(text)["data"]
            assert (body["symbol"], body["provider"], body["interval"]) == (
                "TEST",
                "minimal-provider",
                "1d",
            )
            # a bar a day from the start, to the end's day included (a date-only end includes it)
            assert [b["close"] for b in body["data"]] == [100.0 + n for n in range(31)]
            assert body["data"][0]["timestamp"] == f"{today - timedelta(days=30)}T00:00:00Z"
            assert body["data"][-1]["timestamp"] == f"{today}T00:00:00Z"
    finally:
        await minimal.kill()
