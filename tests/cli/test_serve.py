"""`timebase serve` as a user runs it: a real subprocess, real ports, real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.cli.serve_support import TIMEBASE, serve_database_env, start_serve
from tests.conftest import DatabaseServers, skip_without_timescaledb
from timebase.store.embedded import timescaledb_installed
from timebase.v1 import bars_pb2
from timebase.v1 import bars_pb2_grpc as bars_grpc


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env.update(
        {
            "TIMEBASE_DATA_DIR": str(data_dir),
            "TIMEBASE_GRPC_PORT": "0",
            "TIMEBASE_FLIGHT_PORT": "0",
            "TIMEBASE_HTTP_PORT": "0",
            # See tests/supervisor/test_privileges.py.
            "TIMEBASE_PROVIDERS_PROCESS_USER": "root",
            **extra,
        }
    )
    return env


@pytest.fixture
def serve_env(data_dir: Path, backend: str, database_servers: DatabaseServers) -> dict[str, str]:
    """`timebase serve`'s environment on the backend of this run."""
    return _env(data_dir, **serve_database_env(backend, database_servers))


@pytest.fixture
def served(
    serve_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    proc, lines = start_serve(serve_env, tmp_path, timeout=60)
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_prints_endpoints_serves_health_and_stops_cleanly_on_sigterm(
    served: tuple[subprocess.Popen[str], list[str]],
    data_dir: Path,
    serve_env: dict[str, str],
    backend: str,
) -> None:
    proc, lines = served
    assert lines[0] == "TimeBase 0.1.0 is running:"
    assert lines[-1] == "Press Ctrl-C to stop."
    match = re.fullmatch(r"  gRPC +127\.0\.0\.1:(\d+)", lines[1])
    assert match, lines
    port = int(match.group(1))
    assert lines[2].lstrip() == (
        """try: grpcurl -plaintext -d '{"symbol": "SYN:ACME", "interval": "1d", "limit": 5}' """
        f"127.0.0.1:{port} timebase.v1.GatewayService/GetBars"
    )
    assert re.search(
        r"^  provider synthetic +ready at 127\.0\.0\.1:\d+ \(process\)$", "\n".join(lines), re.M
    )
    (database,) = [x for x in lines if x.startswith("  database ")]
    timescale = r" with TimescaleDB 2\.\d+\.\d+" if backend == "timescaledb" else ""
    if "TIMEBASE_DATABASE_URL" in serve_env:  # an external TimescaleDB
        assert re.fullmatch(rf"  database +PostgreSQL{timescale}", database), lines
    else:
        where = re.escape(f"embedded PostgreSQL, data in {data_dir}/postgres")
        assert re.fullmatch(rf"  database +{where}{timescale}", database), lines
    text = "\n".join(lines)
    assert re.search(r"^  Flight +grpc://127\.0\.0\.1:\d+$", text, re.M), text
    rest = re.search(r"^  REST +http://127\.0\.0\.1:(\d+)$", text, re.M)
    assert rest, text
    # The printed REST example works too.
    url = f"http://127.0.0.1:{rest.group(1)}/api/data/SYN:ACME?interval=1d&limit=5"
    assert f"try: curl -s '{url}'" in text
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    assert body["success"] is True
    assert (body["data"]["symbol"], body["data"]["provider"], body["data"]["count"]) == (
        "SYN:ACME",
        "synthetic",
        5,
    )

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        # The printed example query works: the 5 most recent daily bars, from synthetic.
        request = bars_pb2.GetBarsRequest(symbol="SYN:ACME", interval="1d", limit=5)
        chunks = list(bars_grpc.GatewayServiceStub(channel).GetBars(request, timeout=30))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert [(c.symbol, c.provider) for c in chunks] == [("SYN:ACME", "synthetic")]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day_us = 86_400_000_000
    latest_us = int(today.timestamp()) * 1_000_000
    assert list(chunks[0].timestamps_us) == [latest_us - k * day_us for k in range(4, -1, -1)]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0  # the bound guards against a hang
    # The embedded PostgreSQL went down with it and the data directory is free again.
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_serve_refuses_a_data_dir_in_use(
    served: tuple[subprocess.Popen[str], list[str]], data_dir: Path, tmp_path: Path
) -> None:
    second = subprocess.run(
        [*TIMEBASE, "serve"], env=_env(data_dir, TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB="off"),
        cwd=tmp_path, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"timebase: the data directory {data_dir} is already in use" in second.stderr
    assert "Traceback" not in second.stderr
    served[0].send_signal(signal.SIGINT)
    assert served[0].wait(timeout=10) == 0


def test_bad_configuration_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [*TIMEBASE, "serve"], env=_env(data_dir, TIMEBASE_GRPC_PORT="x"), cwd=tmp_path,
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr == "timebase: TIMEBASE_GRPC_PORT: grpc_port: expected an integer, got 'x'\n"
    )


@pytest.mark.timescale
def test_serve_with_timescaledb_installed_but_not_preloaded_starts_and_says_so(
    data_dir: Path, tmp_path: Path
) -> None:
    """The state right after installing the package: the extension is there, the server does
    not preload it. `CREATE EXTENSION` then fails with a FATAL error; serve carries on on plain
    tables, serves bars, and logs exactly one line about TimescaleDB."""
    if not timescaledb_installed():
        skip_without_timescaledb()
    env = _env(data_dir, TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB="off", TIMEBASE_LOG_FORMAT="json")
    with (tmp_path / "serve.log").open("w+") as log:
        proc, lines = start_serve(env, tmp_path, timeout=60, stderr=log)
        try:
            assert lines[-1] == "Press Ctrl-C to stop.", lines
            (database,) = [x for x in lines if x.startswith("  database ")]
            # No "with TimescaleDB": plain tables.
            assert re.fullmatch(
                rf"  database +embedded PostgreSQL, data in {re.escape(str(data_dir))}/postgres",
                database,
            ), lines
            rest = re.search(r"^  REST +(http://127\.0\.0\.1:\d+)$", "\n".join(lines), re.M)
            assert rest, lines
            url = f"{rest.group(1)}/api/data/SYN:ACME?interval=1d&limit=5"
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.load(response)
            assert (body["data"]["symbol"], body["data"]["count"]) == ("SYN:ACME", 5)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        log.seek(0)
        records = [json.loads(line) for line in log.read().splitlines() if line.startswith("{")]
    said = [(r["level"], r["message"]) for r in records if "TimescaleDB" in r["message"]]
    assert said == [
        (
            "WARNING",
            "TimescaleDB not in use (the extension is installed but not preloaded): "
            "hypertables, compression, chunk-dropping retention off; plain PostgreSQL tables "
            "serve the same queries; to enable: add shared_preload_libraries = 'timescaledb' "
            "to postgresql.conf and restart PostgreSQL (the embedded server: "
            "database.embedded_timescaledb: on)",
        )
    ]
