"""The ccxt provider on recorded Binance responses: in-process and as a real subprocess.

Only the HTTP transport is replaced (`ccxt_recordings.RecordedSession`, a requests Session with a
replaying adapter): ccxt builds, sends and parses every request exactly as against Binance.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from timebase.sdk import Manifest, ProviderServer, load_manifest
from timebase.sdk.testing import provider_process

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_DIR = ROOT / "providers" / "ccxt"
RECORDINGS = Path(__file__).resolve().parent / "recordings"
#: What the tests serve: Binance (recorded) and Kraken (no recordings: every request is a 404).
OPTIONS: dict[str, Any] = {"exchanges": "binance,kraken", "recordings_dir": str(RECORDINGS)}


def load_module(name: str = "ccxt_provider") -> ModuleType:
    src = str(PROVIDER_DIR / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    module: ModuleType = __import__(name)
    return module


@pytest.fixture(scope="session")
def ccxt_provider() -> ModuleType:
    return load_module()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return load_manifest(PROVIDER_DIR / "config.yaml")


@pytest.fixture
async def provider(ccxt_provider: ModuleType, manifest: Manifest) -> AsyncIterator[Any]:
    """A started provider replaying the recordings (Binance's session: `recorded_session`)."""
    instance = ccxt_provider.CcxtProvider(manifest, manifest.validate_options(OPTIONS))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
async def inprocess_target(provider: Any) -> AsyncIterator[str]:
    async with ProviderServer(provider, port=0) as server:
        yield server.target


@pytest.fixture(scope="module")
def process_target() -> Iterator[str]:
    env = {"TIMEBASE_PROVIDER_OPTIONS": json.dumps(OPTIONS)}
    with provider_process(PROVIDER_DIR, env, start_timeout=60) as target:
        yield target
