"""Supervisor tests: real provider processes (the synthetic one and throwaway ones in tmp dirs)."""

from __future__ import annotations

import asyncio
import dataclasses
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from timebase.core.config import Config, ProvidersConfig

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "providers"

#: Watchdog timings short enough for a fast suite.
FAST = {
    "start_timeout_seconds": 15.0,
    "probe_interval_seconds": 0.2,
    "probe_timeout_seconds": 1.0,
    "unhealthy_threshold": 2,
    "restart_backoff_seconds": 0.05,
    "restart_backoff_max_seconds": 0.2,
    "max_restarts": 3,
    "restart_window_seconds": 60.0,
    "stop_timeout_seconds": 3.0,
    # Run as root, providers would run as `nobody`, who cannot reach an interpreter installed in
    # root's home (this machine's): these tests keep them root; test_privileges.py drops them.
    "process_user": "root",
}


def make_config(data_dir: Path, **providers: Any) -> Config:
    values = {**FAST, **providers}
    return Config(data_dir=data_dir, providers=ProvidersConfig(**values))


def with_providers(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, providers=dataclasses.replace(config.providers, **changes))


MANIFEST = """\
name: {name}
version: "0.1.0"
slug: {slug}
description: throwaway test provider
intervals: [1d]
"""


def write_provider(
    root: Path, slug: str, main: str, *, manifest: str | None = None, grandchild: bool = False
) -> Path:
    """A provider folder `root/slug` with `src/main.py` = `main` and a minimal manifest."""
    folder = root / slug
    (folder / "src").mkdir(parents=True)
    (folder / "config.yaml").write_text(
        manifest if manifest is not None else MANIFEST.format(name=slug.title(), slug=slug)
    )
    (folder / "src" / "main.py").write_text(textwrap.dedent(main))
    if grandchild:
        (folder / "spawn-grandchild").touch()
    return folder


async def provider_folder(
    root: Path, slug: str, main: str, *, manifest: str | None = None, grandchild: bool = False
) -> Path:
    """`write_provider` off the event loop (for async tests)."""
    return await asyncio.to_thread(
        write_provider, root, slug, main, manifest=manifest, grandchild=grandchild
    )


# A minimal SDK provider (standard health service on), optionally spawning a grandchild.
SDK_PROVIDER = """\
import os, signal, subprocess, sys
from timebase.sdk import Provider, serve

if os.path.exists("spawn-grandchild"):
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
    # Its own data folder: the only place it may write (its folder is read-only to it).
    with open(os.path.join(os.environ["TIMEBASE_PROVIDER_DATA_DIR"], "grandchild.pid"), "w") as f:
        f.write(str(child.pid))

class Tiny(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        return
        yield

if __name__ == "__main__":
    serve(Tiny)
"""

# An existing-TimeBase-style provider: DataProvider.HealthCheck only, no grpc.health.v1.
LEGACY_PROVIDER = """\
import asyncio
import grpc
from timebase.provider import provider_pb2 as pb, provider_pb2_grpc as pb_grpc

class Legacy(pb_grpc.DataProviderServicer):
    async def HealthCheck(self, request, context):
        return pb.HealthStatus(status=pb.HealthStatus.HEALTHY, message="legacy ok")

async def main():
    server = grpc.aio.server()
    pb_grpc.add_DataProviderServicer_to_server(Legacy(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"TIMEBASE_PROVIDER_LISTENING port={port}", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""

CRASHING_PROVIDER = """\
import sys
print("about to fail", file=sys.stderr, flush=True)
sys.exit(3)
"""

# Prints nothing, answers nothing: never ready.
HANGING_PROVIDER = """\
import time
time.sleep(300)
"""


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


async def alive(pid: int) -> bool:
    """`pid_alive` off the event loop."""
    return await asyncio.to_thread(pid_alive, pid)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def gone(pid: int, within: float = 5.0) -> bool:
    """True once `pid` no longer exists (waits up to `within` seconds, off the event loop)."""
    return await asyncio.to_thread(_gone, pid, within)


@pytest.fixture
def providers_root(tmp_path: Path) -> Path:
    root = tmp_path / "providers"
    root.mkdir()
    return root


@pytest.fixture
def empty_bundled(tmp_path: Path) -> Path:
    path = tmp_path / "bundled"
    path.mkdir()
    return path
