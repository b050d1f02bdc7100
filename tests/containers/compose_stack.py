"""What the compose stack tests share: running docker-compose on a project, bringing a stack up
and taking it down.

`test_compose_stack.py` (docker-compose.yml) and `test_compose_prod_stack.py` (plus
docker-compose.prod.yml) bring a whole stack up from local images under a project name of their
own. Both stacks publish the gateway's fixed loopback ports, so one stack runs at a time across
pytest workers and concurrent runs (a file lock); a port something else listens on skips the
test with the port named. `running()` brings the stack up, waits until it is ready, and takes it
down with its volumes whatever happened; afterwards no container, network or volume of the
project may be left (the assertion carries the end of the stack's logs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.containers import support
from timebase.core.config import Config

ROOT = support.ROOT
COMPOSE = shutil.which("docker-compose")
#: The gateway's gRPC, Flight and REST ports, as docker-compose.yml publishes them on 127.0.0.1.
PORTS = (Config().grpc_port, Config().flight_port, Config().http_port)
PRODUCTION = ROOT / "docker-compose.yml"
#: The local TimescaleDB stand-in in place of the image that cannot be pulled here.
OVERRIDE = ROOT / "tests" / "containers" / "compose.override.yml"
_NOTHING_LEFT: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}


def require_compose() -> str:
    """The docker-compose executable, else the test skips saying how to get it."""
    if COMPOSE is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    return COMPOSE


@dataclass
class Stack:
    """A compose project: its files, its name (None: no project, e.g. `config`), its env."""

    files: tuple[Path, ...]
    project: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def compose(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`docker-compose -f FILE… [-p PROJECT] ARGS` in the repository root; with `check`, a
        failure fails the test with its output."""
        command = [require_compose(), *(arg for path in self.files for arg in ("-f", str(path)))]
        if self.project is not None:
            command += ["-p", self.project]
        done = subprocess.run(
            [*command, *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"docker-compose {' '.join(args)}:\n{done.stdout}{done.stderr}"
            )
        return done

    def container(self, docker_client: Any, service: str) -> Any:
        """The one running container of `service` in this project."""
        filters = {
            "label": [
                f"com.docker.compose.project={self.project}",
                f"com.docker.compose.service={service}",
            ]
        }
        (found,) = docker_client.containers.list(filters=filters)
        return found

    def psql(self, docker_client: Any, sql: str) -> list[list[str]]:
        """Rows of `sql` run by psql inside the `db` container (the database is not
        published), each a list of its columns as text."""
        db = self.container(docker_client, "db")
        code, output = db.exec_run(["psql", "-U", "timebase", "-d", "timebase", "-AtF|", "-c", sql])
        text = output.decode()
        assert code == 0, text
        return [line.split("|") for line in text.splitlines() if line]


def port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running(
    docker_client: Any,
    stack: Stack,
    ready: Callable[[Stack], None],
    services: tuple[str, ...] = (),
    ports: tuple[int, ...] = PORTS,
) -> Iterator[Stack]:
    """`stack` up (`services`, or all of them but those in profiles) from local images,
    `ready(stack)` returned; `down -v` afterwards, then nothing of the project may be left.
    `ports` are the loopback ports the stack publishes (the test skips when one is taken)."""
    require_compose()
    assert stack.project is not None
    logs = ""
    # The stacks publish fixed ports: one stack at a time across workers and runs.
    with support.file_lock("timebase-compose-stack.lock"):
        busy = [port for port in ports if port_busy(port)]
        if busy:
            pytest.skip(f"the stack publishes 127.0.0.1:{busy} and something listens there")
        try:
            stack.compose("up", "-d", "--no-build", *services)
            ready(stack)
            yield stack
        finally:
            logs = stack.compose("logs", "--tail=40", check=False).stdout
            stack.compose("down", "-v", "--remove-orphans", "--timeout", "10")
    left = support.labelled(docker_client, f"com.docker.compose.project={stack.project}")
    assert left == _NOTHING_LEFT, (left, logs)
