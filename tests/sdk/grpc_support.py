"""Keep grpc.aio initialised for the whole test session.

grpc.aio shuts its poller down (joining a thread) when the last aio server or channel is freed;
when that happens inside a running event loop, blockbuster rightly flags the blocking join. One
aio server held from session start to end (created and freed outside any loop) keeps the poller up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest


@pytest.fixture(scope="session", autouse=True)
def _grpc_aio_kept_alive() -> Iterator[None]:
    async def make() -> grpc.aio.Server:
        return grpc.aio.server()

    server = asyncio.run(make())
    yield
    del server
