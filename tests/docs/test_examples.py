"""Every README and docs example that talks to a server is marked: those marked `run` run here
against a real `timebase serve` (ports picked here, offline: the synthetic provider), the others
say why not (`tests/docs/examples.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_serve_clients import Served, ServedBackends
from tests.conftest import DatabaseServers
from tests.docs.examples import TALKS_TO_A_SERVER, examples, localize, runnable

RUNNABLE = runnable()


def test_every_example_that_talks_to_a_server_is_marked() -> None:
    unmarked = [e.name for e in examples() if e.mark is None and TALKS_TO_A_SERVER.search(e.code)]
    assert unmarked == []
    # The examples the README promises work offline (on SYN: symbols) run, and so does the REST
    # reference's first one.
    ran = {e.name for e in RUNNABLE}
    talking = [e for e in examples() if TALKS_TO_A_SERVER.search(e.code)]
    using_it = ('tb.history(["SYN:ACME"', "timebase get SYN:ACME -i 1d --start 2024-01-01")
    offline = {
        e.name
        for e in talking
        if e.name.startswith("README.md:") and any(text in e.code for text in using_it)
    }
    first_rest = next(e.name for e in talking if e.name.startswith("docs/rest.md:"))
    assert len(offline) >= 2
    assert offline | {first_rest} <= ran


@pytest.fixture(scope="module")
def served_backends(
    tmp_path_factory: pytest.TempPathFactory, database_servers: DatabaseServers
) -> Iterator[ServedBackends]:
    backends = ServedBackends(tmp_path_factory.mktemp("docs-examples").resolve(), database_servers)
    try:
        yield backends
    finally:
        backends.stop()


@pytest.fixture
def served(served_backends: ServedBackends, backend: str) -> Served:
    """The module's `timebase serve` on the backend of this run: each example runs on both."""
    return served_backends.get(backend)


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.name for e in RUNNABLE])
def test_example_runs(example, served: Served, tmp_path: Path) -> None:
    env = dict(served.env)
    code = localize(
        example.code,
        http=int(env["TIMEBASE_HTTP_PORT"]),
        grpc=served.grpc_port,
        flight=served.flight_port,
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if example.lang == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{example.name} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert '"success":false' not in result.stdout.replace(" ", "")
