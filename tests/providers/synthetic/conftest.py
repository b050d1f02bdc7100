"""The synthetic provider, in-process (fast) and as a real `python src/main.py` subprocess."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from timebase.sdk import Manifest, ProviderServer, load_manifest
from timebase.sdk.testing import provider_process

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_DIR = ROOT / "providers" / "synthetic"


def load_module() -> ModuleType:
    src = str(PROVIDER_DIR / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import synthetic_provider  # type: ignore[import-not-found]

    module: ModuleType = synthetic_provider
    return module


@pytest.fixture(scope="session")
def synthetic() -> ModuleType:
    return load_module()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return load_manifest(PROVIDER_DIR / "config.yaml")


@pytest.fixture
async def inprocess_target(synthetic: ModuleType, manifest: Manifest) -> AsyncIterator[str]:
    provider = synthetic.SyntheticProvider(manifest, manifest.load_options({}))
    async with ProviderServer(provider, port=0) as server:
        yield server.target


@pytest.fixture(scope="module")
def process_target() -> Iterator[str]:
    with provider_process(PROVIDER_DIR) as target:
        yield target
