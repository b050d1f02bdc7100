"""A secret option (a `str` named `api_key`) never shows: not in the gateway's log (its own lines
and the provider's), not in `/api/providers`, not in gRPC ListProviders, not in errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.supervisor.conftest import FAST, provider_folder
from timebase.core.config import (
    Config,
    DatabaseConfig,
    ProvidersConfig,
    ProviderSettings,
    RestConfig,
)
from timebase.sdk.options import SECRET_MASK
from timebase.server import TimeBaseApp
from timebase.supervisor import ProviderStatus
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

SECRET = "sk-live-TOPSECRET-4242"

MANIFEST = """\
name: {name}
version: "0.1.0"
slug: {slug}
description: a provider with an API key typed str
intervals: [1d]
options:
  api_key: ""
  region: us
schema:
  api_key: str
  region: str
"""

# Careless: prints its whole option JSON, key included, then serves.
CARELESS = """\
import os
from timebase.sdk import Provider, serve

print("my options:", os.environ["TIMEBASE_PROVIDER_OPTIONS"], flush=True)

class Careless(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        return
        yield

if __name__ == "__main__":
    serve(Careless)
"""

# Fails at start, its last words holding the key.
FAILING = """\
import os, sys
print("cannot log in with", os.environ["TIMEBASE_PROVIDER_OPTIONS"], file=sys.stderr, flush=True)
sys.exit(1)
"""


async def test_a_secret_option_never_appears_in_logs_or_api_output(
    tmp_path: Path,
    fresh_database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    addons = tmp_path / "addons"
    for slug, main in (("careless", CARELESS), ("failing", FAILING)):
        manifest = MANIFEST.format(name=slug.title(), slug=slug)
        await provider_folder(addons, slug, main, manifest=manifest)
    options = {"api_key": SECRET, "region": "eu"}
    fast: dict[str, Any] = {**FAST, "max_restarts": 1}
    config = Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=fresh_database_url),
        providers=ProvidersConfig(
            **fast,
            bundled_dir=tmp_path / "bundled",
            directories=(addons,),
            settings={
                "careless": ProviderSettings(options=options),
                "failing": ProviderSettings(options=options),
            },
        ),
        rest=RestConfig(rate_limit_enabled=False),
    )
    caplog.set_level(logging.DEBUG)
    app = TimeBaseApp(config)
    await app.start()
    try:
        assert app.supervisor.get("careless").status is ProviderStatus.READY
        await app.supervisor.wait_for("failing", lambda s: s.status is ProviderStatus.FAILED, 20)
        assert app.rest is not None
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{app.rest.url}/api/providers") as resp,
        ):
            assert resp.status == 200
            listing = await resp.text()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
            stub: Any = v1_grpc.GatewayServiceStub(channel)
            listed = await stub.ListProviders(v1.ListProvidersRequest())
    finally:
        await app.stop()

    # The SDK's start-up line shows the options, masked; the careless print is scrubbed.
    starting = [r.getMessage() for r in caplog.records if "starting provider" in r.getMessage()]
    assert (
        f"starting provider careless 0.1.0 with options Options({{'api_key': '{SECRET_MASK}', 'region': 'eu'}})"
        in starting
    )
    printed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("my options")]
    assert printed == [f'my options: {{"api_key": "{SECRET_MASK}", "region": "eu"}}']
    failing = {p.slug: p for p in listed.providers}["failing"]
    assert SECRET_MASK in failing.last_error
    assert '"region": "eu"' in failing.last_error  # the line is there, the key is not

    assert SECRET not in caplog.text
    out, err = capfd.readouterr()
    assert SECRET not in out + err
    assert SECRET not in listing
    assert SECRET not in str(listed)
