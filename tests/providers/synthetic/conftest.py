"""The synthetic provider, in-process (fast) and as a real `python src/main.py` subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from timebase.sdk import Manifest, ProviderServer, load_manifest

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


def start_process(extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "TIMEBASE_PROVIDER_PORT": "0", "TIMEBASE_LOG_LEVEL": "WARNING"}
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, str(PROVIDER_DIR / "src" / "main.py")],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.match(r"TIMEBASE_PROVIDER_LISTENING port=(\d+)", line)
        if match:
            return proc, int(match.group(1))
    proc.kill()
    raise AssertionError(f"provider did not report its port (exit code {proc.wait()})")


@pytest.fixture(scope="module")
def process_target() -> Iterator[str]:
    proc, port = start_process()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert code == 0, f"provider exited with {code} after SIGTERM"
