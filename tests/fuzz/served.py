"""A real `timebase serve` subprocess for the fuzzers: every door on port 0, the ports read
from what it prints, its log kept in a file (searched for tracebacks when it stops)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.cli.serve_support import start_serve

_ADDRESS = {
    "grpc": re.compile(r"^\s+gRPC\s+127\.0\.0\.1:(\d+)$"),
    "flight": re.compile(r"^\s+Flight\s+grpc://127\.0\.0\.1:(\d+)$"),
    "rest": re.compile(r"^\s+REST\s+http://127\.0\.0\.1:(\d+)$"),
}


@dataclass
class Served:
    """One running `timebase serve`: its ports, its log, and the headers its clients send."""

    root: Path
    proc: subprocess.Popen[str]
    grpc_port: int
    flight_port: int
    rest_port: int
    log: Path
    #: Sent with every request by the fuzzers; API keys go here once they exist (the `auth` lane).
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def flight_location(self) -> str:
        return f"grpc://127.0.0.1:{self.flight_port}"

    def tracebacks(self) -> list[str]:
        """The log lines of unexpected errors (a traceback is logged for nothing else)."""
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if "Traceback" in line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve(
    root: Path, database_url: str, config_yaml: str, extra_env: Mapping[str, str] | None = None
) -> Served:
    """Start `timebase serve` in `root` (its data dir and `timebase.yaml` there) on `database_url`
    (`extra_env` added to its environment, e.g. a PYTHONPATH to run another build)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "timebase.yaml").write_text(config_yaml)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env.update(
        {
            "TIMEBASE_CONFIG": str(root / "timebase.yaml"),
            "TIMEBASE_DATA_DIR": str(root / "data"),
            "TIMEBASE_DATABASE_URL": database_url,
            "TIMEBASE_GRPC_PORT": "0",
            "TIMEBASE_FLIGHT_PORT": "0",
            "TIMEBASE_HTTP_PORT": "0",
            "TIMEBASE_LOG_LEVEL": "WARNING",
            "TIMEBASE_LOG_FORMAT": "text",
            **(extra_env or {}),
        }
    )
    log = root / "timebase.log"
    stderr: IO[str] = log.open("w")
    try:
        proc, lines = start_serve(env, root, timeout=90, stderr=stderr)
    finally:
        stderr.close()
    ports: dict[str, int] = {}
    for line in lines:
        for door, pattern in _ADDRESS.items():
            if match := pattern.match(line):
                ports[door] = int(match.group(1))
    if set(ports) != set(_ADDRESS) or lines[-1:] != ["Press Ctrl-C to stop."]:
        proc.kill()
        proc.wait()
        log_text = log.read_text(errors="replace")[-4000:]
        raise AssertionError(f"timebase serve did not start: {lines}\n{log_text}")
    return Served(root, proc, ports["grpc"], ports["flight"], ports["rest"], log)
