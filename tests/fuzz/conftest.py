"""The fuzzers' servers and settings.

Two `timebase serve` processes per pytest worker and database backend (every fuzzer runs on plain
PostgreSQL and on TimescaleDB: the `backend` fixture's ids), started on first use and kept to the
end of the session, each on a database of its own (on the backend's server):

- `reader`: the synthetic provider, every door; the REST read routes, gRPC and Flight are fuzzed
  against it (nothing fuzzed there installs or removes a provider);
- `admin`: no provider running, the bundled folder as its providers directory; only the admin
  routes (install, remove) are fuzzed against it, so fuzzing never removes a provider that the
  other fuzzers use. Its requests carry `admin.headers` (credentials, once API keys exist).

Sizing: `examples(n)` is `n` times TIMEBASE_FUZZ_SCALE (1 in `make test`, 10 in `make fuzz`).
Every run is derandomized (the same cases each time; no example database), so a failure seen
once is seen again on the same code: see docs/CONTRIBUTING.md, "Fuzzing".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import DatabaseServers, create_database, drop_database
from tests.fuzz.served import Served, serve

ROOT = Path(__file__).resolve().parents[2]

#: Multiplies every fuzzer's number of examples (`make fuzz` sets 10).
FUZZ_SCALE_ENV = "TIMEBASE_FUZZ_SCALE"


def fuzz_scale() -> int:
    raw = os.environ.get(FUZZ_SCALE_ENV, "1")
    try:
        scale = int(raw)
    except ValueError:
        scale = 0
    if scale < 1:
        raise pytest.UsageError(f"{FUZZ_SCALE_ENV}: expected a positive integer, got {raw!r}")
    return scale


def examples(n: int) -> int:
    """`n` examples, scaled by TIMEBASE_FUZZ_SCALE."""
    return n * fuzz_scale()


def fuzz_timeout() -> int:
    """pytest-timeout's limit for one fuzz test (seconds): generous, scaled."""
    return 300 * fuzz_scale()


def fuzz_settings(n: int) -> settings:
    """Hypothesis settings of a fuzz test: `examples(n)` cases, derandomized, no deadline (the
    machine is shared), no example database (nothing carried from run to run)."""
    return settings(
        max_examples=examples(n),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
    )


READER_CONFIG = """\
rest:
  rate_limit_enabled: false
providers:
  enabled: [synthetic]
"""

#: The admin server has API keys on: its routes are fuzzed with an admin key, as they are used.
ADMIN_KEY = "tb_fuzz-admin-key-0123456789abcdefghijklmnopqrstuvwxyzABCD"
ADMIN_CONFIG = """\
auth:
  mode: keys
  keys: [{{name: fuzz-admin, scope: admin, sha256: {key_hash}}}]
  max_failures: 1000000   # the fuzzer sends wrong keys on purpose: never lock its address out
rest:
  rate_limit_enabled: false
providers:
  bundled_dir: {bundled}
  directories: [{providers}]
  enabled: []
  start_timeout_seconds: 30
  stop_timeout_seconds: 5
"""


class Servers:
    """The worker's `timebase serve` processes, started on first use."""

    def __init__(self, root: Path, databases: DatabaseServers) -> None:
        self.root = root
        self.databases = databases
        self.started: dict[tuple[str, str], Served] = {}
        #: (server URL, database URL) of each database made here.
        self.urls: list[tuple[str, str]] = []

    def get(self, name: str, backend: str) -> Served:
        if (name, backend) not in self.started:
            server = self.databases.url(backend)
            url = create_database(server, prefix=f"fuzz_{name}")
            self.urls.append((server, url))
            root = self.root / backend / name
            if name == "admin":
                (self.root / "empty").mkdir(exist_ok=True)
                config = ADMIN_CONFIG.format(
                    bundled=self.root / "empty",
                    providers=ROOT / "providers",
                    key_hash=hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
                )
            else:
                config = READER_CONFIG
            served = serve(root, url, config)
            if name == "admin":
                served.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
            self.started[name, backend] = served
        return self.started[name, backend]

    def stop(self) -> None:
        for served in self.started.values():
            served.stop()
        for server, url in self.urls:
            drop_database(server, url)


@pytest.fixture(scope="session")
def fuzz_servers(
    tmp_path_factory: pytest.TempPathFactory, database_servers: DatabaseServers
) -> Iterator[Servers]:
    servers = Servers(tmp_path_factory.mktemp("fuzz").resolve(), database_servers)
    try:
        yield servers
    finally:
        servers.stop()


def _no_tracebacks(served: Served) -> Iterator[Served]:
    before = len(served.tracebacks())
    yield served
    found = served.tracebacks()[before:]
    assert not found, f"the server logged {len(found)} unexpected error(s): see {served.log}"


@pytest.fixture
def reader(fuzz_servers: Servers, backend: str) -> Iterator[Served]:
    """The `timebase serve` with the synthetic provider (see the module docstring); a test fails
    when the server logged a traceback while it ran."""
    yield from _no_tracebacks(fuzz_servers.get("reader", backend))


@pytest.fixture
def admin(fuzz_servers: Servers, backend: str) -> Iterator[Served]:
    """The `timebase serve` the admin routes are fuzzed against (see the module docstring)."""
    yield from _no_tracebacks(fuzz_servers.get("admin", backend))
