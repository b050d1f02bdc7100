"""The yahoo-finance provider on recorded Yahoo responses: in-process and as a real subprocess.

Only the HTTP layer is replaced (`yahoo_recordings.RecordedSession`, a curl_cffi Session); yfinance
parses the recorded chart-API bodies exactly as it parses Yahoo's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from timebase.sdk import Manifest, ProviderServer, load_manifest
from timebase.sdk.testing import provider_process

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_DIR = ROOT / "providers" / "yahoo-finance"
RECORDINGS = Path(__file__).resolve().parent / "recordings"


def load_module(name: str = "yahoo_provider") -> ModuleType:
    src = str(PROVIDER_DIR / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    module: ModuleType = __import__(name)
    return module


@pytest.fixture(scope="session")
def yahoo() -> ModuleType:
    return load_module()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return load_manifest(PROVIDER_DIR / "config.yaml")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("yfinance-cache")


@pytest.fixture
def provider(yahoo: ModuleType, manifest: Manifest, cache_dir: Path) -> object:
    """A started provider replaying the recordings (its session is `provider.session`)."""
    options = manifest.validate_options(
        {"recordings_dir": str(RECORDINGS), "cache_dir": str(cache_dir)}
    )
    instance: object = yahoo.YahooFinanceProvider(manifest, options)
    return instance


@pytest.fixture
async def inprocess_target(provider: object) -> AsyncIterator[str]:
    async with ProviderServer(provider, port=0) as server:  # type: ignore[arg-type]
        yield server.target


@pytest.fixture(scope="module")
def process_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    options = {
        "recordings_dir": str(RECORDINGS),
        "cache_dir": str(tmp_path_factory.mktemp("yfinance-cache-subprocess")),
    }
    env = {"TIMEBASE_PROVIDER_OPTIONS": json.dumps(options)}
    with provider_process(PROVIDER_DIR, env, start_timeout=60) as target:
        yield target
