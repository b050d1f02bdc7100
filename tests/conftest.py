"""Session-wide fixtures: a real PostgreSQL for the whole test run.

By default each pytest worker starts its own embedded PostgreSQL (the same server `timebase serve`
uses) in a temporary directory. Set TIMEBASE_TEST_DATABASE_URL to run against another server
instead; every test that writes gets its own fresh database either way.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from timebase.store.embedded import EmbeddedPostgres

#: Skips of docker/timescale/browser tests fail under TIMEBASE_CI_STRICT_SKIPS (tests/strict_skips.py);
#: pytester runs that plugin's own tests.
pytest_plugins = ("tests.strict_skips", "pytester")

_counter = itertools.count()


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test whose code blocks the event loop (sleep, file or socket I/O on the loop)."""
    with blockbuster_ctx(scanned_modules=["timebase", "tests"]) as guard:
        yield guard


@pytest.fixture(scope="session", autouse=True)
def _grpc_aio_kept_alive() -> Iterator[None]:
    """Keep grpc.aio initialised for the whole session.

    grpc.aio shuts its poller down (joining a thread) when the last aio server or channel is
    freed; inside a running event loop the guard above would rightly flag that join. One aio
    server created and freed outside any loop keeps the poller up from start to end.
    """

    async def make() -> grpc.aio.Server:
        return grpc.aio.server()

    server = asyncio.run(make())
    yield
    del server


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """libpq URL of a PostgreSQL superuser connection, shared by the whole session."""
    external = os.environ.get("TIMEBASE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    asyncio.run(server.start())
    try:
        yield server.url
    finally:
        asyncio.run(server.stop())


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(server_url: str, prefix: str = "t") -> str:
    """Create an empty database on the server of `server_url`; return its URL."""
    from adbc_driver_postgresql import dbapi

    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with dbapi.connect(server_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    return _with_database(server_url, name)


@pytest.fixture
def fresh_database_url(database_url: str) -> str:
    """A brand-new, empty database for one test."""
    return create_database(database_url)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty TIMEBASE_DATA_DIR for one test (an absolute, resolved path)."""
    path = tmp_path.resolve() / "data"
    path.mkdir()
    return path
