"""Session-wide fixtures: real database servers, and a fresh database for every test.

Every test that touches the database runs on both backends, plain PostgreSQL (`postgres`) and
TimescaleDB (`timescaledb`), each in a database of its own. Each pytest worker starts at most one
embedded PostgreSQL per backend (the same server `timebase serve` uses; the TimescaleDB one
preloads the extension that `make timescaledb` installs), lazily, so a selection that needs only
one backend starts only that one. TIMEBASE_TEST_DATABASE_URL and TIMEBASE_TEST_TIMESCALE_URL point
a backend at an external server instead. Without TimescaleDB, its runs skip with one reason
(under .ci/run, which sets TIMEBASE_TEST_REQUIRE_TIMESCALEDB, they fail).
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

from timebase.store.embedded import EmbeddedPostgres, timescaledb_installed

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


#: The database backends every database test runs on (the parameter ids).
BACKENDS = ("postgres", "timescaledb")
#: Environment variables pointing a backend at an external server (a superuser URL).
EXTERNAL_URL = {
    "postgres": "TIMEBASE_TEST_DATABASE_URL",
    "timescaledb": "TIMEBASE_TEST_TIMESCALE_URL",
}
#: A server with the TimescaleDB files installed but not preloaded (DatabaseServers.url).
NOT_PRELOADED = "timescaledb-not-preloaded"
#: Set (to anything but "" or "0") by .ci/run: an unavailable TimescaleDB fails instead of skipping.
REQUIRE_TIMESCALEDB = "TIMEBASE_TEST_REQUIRE_TIMESCALEDB"
TIMESCALEDB_UNAVAILABLE = (
    "TimescaleDB unavailable: its extension is not installed in the embedded PostgreSQL "
    "(make timescaledb) and TIMEBASE_TEST_TIMESCALE_URL is not set"
)


def timescaledb_required() -> bool:
    return os.environ.get(REQUIRE_TIMESCALEDB, "") not in ("", "0")


def skip_without_timescaledb() -> None:
    """Skip (or, under .ci/run, fail) a TimescaleDB run that has no TimescaleDB to run on."""
    if timescaledb_required():
        pytest.fail(f"{TIMESCALEDB_UNAVAILABLE} ({REQUIRE_TIMESCALEDB} is set)", pytrace=False)
    pytest.skip(TIMESCALEDB_UNAVAILABLE)


class DatabaseServers:
    """One server per backend for this pytest worker, started on first use, kept to the end.

    A backend's external URL wins; otherwise an embedded PostgreSQL starts, with TimescaleDB
    preloaded for the `timescaledb` backend (and explicitly not for `postgres`).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._urls: dict[str, str] = {}
        self._embedded: list[EmbeddedPostgres] = []
        #: backend → the template its test databases are created from (default: template1).
        self.templates: dict[str, str] = {}
        self._preloads: dict[str, bool] = {}

    def url(self, backend: str) -> str:
        if backend not in self._urls:
            self._urls[backend] = self._start(backend)
        return self._urls[backend]

    def _start(self, backend: str) -> str:
        if backend == NOT_PRELOADED:
            # Only an embedded server can be put in this state here: files installed, no preload.
            if not timescaledb_installed():
                skip_without_timescaledb()
            if not os.environ.get(EXTERNAL_URL["postgres"]):
                return self.url("postgres")  # the embedded `postgres` server is started so
            backend = "postgres-embedded"
        elif os.environ.get(EXTERNAL_URL[backend]):
            return os.environ[EXTERNAL_URL[backend]]
        timescale = backend == "timescaledb"
        if timescale and not timescaledb_installed():
            skip_without_timescaledb()
        server = EmbeddedPostgres(
            self.root / backend,
            timescaledb="on" if timescale else "off",
            # No background jobs in tests (they call compress_chunk themselves): a scheduler per
            # test database would only compete for the two cores.
            settings={"timescaledb.max_background_workers": "0"} if timescale else None,
        )
        asyncio.run(server.start())
        self._embedded.append(server)
        if timescale:
            # CREATE EXTENSION timescaledb runs a large script (~1 s on a busy machine): test
            # databases are copies of a template that has it (no background workers connect to
            # it, so it can be copied). TimeBase's own start still runs detection and set-up;
            # tests/store/test_timescale.py creates the extension itself.
            self.templates[backend] = _create_template(server.url)
        return server.url

    def preloads_timescaledb(self, backend: str) -> bool:
        """Whether the backend's server preloads TimescaleDB (then TimeBase uses it there)."""
        if backend not in self._preloads:
            from adbc_driver_postgresql import dbapi

            with dbapi.connect(self.url(backend), autocommit=True) as conn, conn.cursor() as cur:
                cur.execute("SELECT current_setting('shared_preload_libraries')")
                ((libraries,),) = cur.fetchall()
            self._preloads[backend] = "timescaledb" in str(libraries)
        return self._preloads[backend]

    def stop(self) -> None:
        for server in self._embedded:
            asyncio.run(server.stop())


@pytest.fixture(scope="session")
def database_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServers]:
    servers = DatabaseServers(tmp_path_factory.mktemp("pg"))
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this run: `postgres` or `timescaledb`."""
    param: str = request.param
    return param


@pytest.fixture
def timescale_on(backend: str, database_servers: DatabaseServers) -> bool:
    """Whether TimeBase uses TimescaleDB on this run's server: on the `timescaledb` backend, and
    on the `postgres` one too when TIMEBASE_TEST_DATABASE_URL names a server that preloads it."""
    return database_servers.preloads_timescaledb(backend)


@pytest.fixture
def database_server_url(backend: str, database_servers: DatabaseServers) -> str:
    """libpq URL of a superuser connection to the backend's server (database `postgres`)."""
    return database_servers.url(backend)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(server_url: str, prefix: str = "t", template: str | None = None) -> str:
    """Create an empty database on the server of `server_url`; return its URL."""
    from adbc_driver_postgresql import dbapi

    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with dbapi.connect(server_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"{copy}')
    return _with_database(server_url, name)


def _create_template(server_url: str) -> str:
    """A database with nothing but the timescaledb extension, to copy test databases from."""
    from adbc_driver_postgresql import dbapi

    url = create_database(server_url, prefix="template_timescaledb")
    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION timescaledb")
    return database_name(url)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database of `url` (closing its connections), leaving the server tidy."""
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(server_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


@pytest.fixture
def database_url(
    database_server_url: str, backend: str, database_servers: DatabaseServers
) -> Iterator[str]:
    """A brand-new, empty database for one test, on the backend of this run.

    Every test that touches the database runs once per backend (ids `postgres`, `timescaledb`)
    and owns its database: no result depends on what another test stored.
    """
    url = create_database(database_server_url, template=database_servers.templates.get(backend))
    yield url
    drop_database(database_server_url, url)


@pytest.fixture
def fresh_database_url(database_url: str) -> str:
    """The same as `database_url` (kept for the tests that spell it this way)."""
    return database_url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty TIMEBASE_DATA_DIR for one test (an absolute, resolved path)."""
    path = tmp_path.resolve() / "data"
    path.mkdir()
    return path
