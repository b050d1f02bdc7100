"""The client and the CLI against a real `timebase serve` subprocess on ports picked here."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tests.cli.serve_support import TIMEBASE, serve_database_env, start_serve
from tests.conftest import DatabaseServers
from timebase.client import TimeBase


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    env: dict[str, str]
    grpc_port: int
    flight_port: int
    cwd: Path
    http_port: int = 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TIMEBASE, *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def client(self) -> TimeBase:
        return TimeBase("127.0.0.1", grpc_port=self.grpc_port, flight_port=self.flight_port)


class ServedBackends:
    """One `timebase serve` per backend for this module, started on first use."""

    def __init__(self, root: Path, servers: DatabaseServers) -> None:
        self.root = root
        self.servers = servers
        self.served: dict[str, Served] = {}
        self.procs: list[subprocess.Popen[str]] = []

    def get(self, backend: str) -> Served:
        if backend not in self.served:
            self.served[backend] = self._start(backend)
        return self.served[backend]

    def _start(self, backend: str) -> Served:
        root = self.root / backend
        data_dir = root / "data"
        data_dir.mkdir(parents=True)
        # A watchlist: backfilled as the server starts (test_watchlists_status).
        (root / "timebase.yaml").write_text(
            "watchlists:\n"
            "  served: {symbols: [SYN:WATCH], intervals: [1d], lookback_days: 5,"
            " schedule: every 1h}\n"
        )
        # A port picked free can be taken by another test before serve binds it: a serve that
        # exits before it is ready is started again on other ports (its log says why).
        for attempt in range(3):
            grpc_port, flight_port, http_port = _free_port(), _free_port(), _free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
            env.update(
                {
                    "TIMEBASE_DATA_DIR": str(data_dir),
                    "TIMEBASE_GRPC_PORT": str(grpc_port),
                    "TIMEBASE_FLIGHT_PORT": str(flight_port),
                    "TIMEBASE_HTTP_PORT": str(http_port),
                    "TIMEBASE_LOG_LEVEL": "WARNING",
                    # tests/supervisor/test_privileges.py
                    "TIMEBASE_PROVIDERS_PROCESS_USER": "root",
                    **serve_database_env(backend, self.servers),
                }
            )
            log_path = root / f"serve-{attempt}.log"
            with log_path.open("w") as log:
                proc, lines = start_serve(env, root, timeout=60, stderr=log)
            self.procs.append(proc)
            if lines:
                break
            try:  # printed nothing: it exited (retried), or hangs (reported below)
                proc.wait(10)
            except subprocess.TimeoutExpired:
                break
        log_tail = "\n".join(log_path.read_text().splitlines()[-20:])
        assert lines, f"timebase serve printed nothing; its log ends:\n{log_tail}"
        assert lines[-1] == "Press Ctrl-C to stop.", (lines, log_tail)
        assert any(line.endswith(f"grpc://127.0.0.1:{flight_port}") for line in lines), lines
        return Served(env, grpc_port, flight_port, root, http_port)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture(scope="module")
def served_backends(
    tmp_path_factory: pytest.TempPathFactory, database_servers: DatabaseServers
) -> Iterator[ServedBackends]:
    backends = ServedBackends(tmp_path_factory.mktemp("serve-clients").resolve(), database_servers)
    try:
        yield backends
    finally:
        backends.stop()


@pytest.fixture
def served(served_backends: ServedBackends, backend: str) -> Served:
    """The module's `timebase serve` on the backend of this run (each test reads and writes
    symbols of its own)."""
    return served_backends.get(backend)


def test_get_parquet_csv_and_client_agree(served: Served) -> None:
    out = served.cwd / "acme.parquet"
    result = served.run(
        "get",
        "SYN:ACME",
        "-i",
        "1d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-31",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    written = pq.read_table(out)
    # The date-only --end includes that day: every day of January, synthetic's bars.
    assert written.num_rows == 31
    assert written["timestamp"].to_pylist() == [
        datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(31)
    ]
    assert set(written["symbol"].to_pylist()) == {"SYN:ACME"}
    with served.client() as tb:
        table = tb.history("syn:acme", "1d", "2024-01-01", "2024-01-31").replace_schema_metadata(
            None
        )
    assert written.equals(table)
    assert set(table["provider"].to_pylist()) == {"synthetic"}

    result = served.run(
        "get",
        "SYN:ACME",
        "-i",
        "1d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-31",
        "--format",
        "csv",
    )
    assert result.returncode == 0, result.stderr
    csv = pacsv.read_csv(io.BytesIO(result.stdout.encode()))
    assert csv["close"].to_pylist() == table["close"].to_pylist()
    assert csv.num_rows == table.num_rows


def test_bad_interval_exits_2_with_one_line(served: Served) -> None:
    result = served.run("get", "SYN:ACME", "-i", "7x", "--start", "2024-01-01")
    assert result.returncode == 2
    assert result.stderr.startswith("timebase: interval: unknown interval '7x'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_providers_symbols_ingest_and_client(served: Served) -> None:
    result = served.run("providers")
    assert result.returncode == 0, result.stderr
    assert any(line.split()[:2] == ["synthetic", "ready"] for line in result.stdout.splitlines())
    result = served.run("symbols", "SYN:ACME")
    assert result.returncode == 0, result.stderr
    assert "1. synthetic" in result.stdout

    csv = served.cwd / "import.csv"
    csv.write_text(
        "symbol,timestamp,open,high,low,close,volume\n"
        "IMP,2024-01-02,1,2,0.5,1.5,10\n"
        "IMP,2024-01-03,1.5,2.5,1,2,20\n"
    )
    result = served.run("ingest", str(csv), "--provider", "my-import", "-i", "1d")
    assert result.returncode == 0, result.stderr
    with served.client() as tb:
        table = tb.history("IMP", "1d", "2024-01-01", "2024-01-31", provider="my-import")
        assert table["close"].to_pylist() == [1.5, 2.0]
        assert [p["slug"] for p in tb.providers()].count("synthetic") == 1
        ranked = tb.symbol_providers("SYN:ACME")
        assert ranked["candidates"][0]["slug"] == "synthetic"


def test_watchlists_status_shows_the_backfill_of_a_configured_watchlist(served: Served) -> None:
    """`watchlists:` in the server's timebase.yaml: backfilled at start, shown by the CLI and
    /metrics."""
    deadline = time.monotonic() + 90
    while True:
        result = served.run("watchlists", "status")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        if len(lines) >= 5 and lines[1].split()[4:6] == ["1", "ok"]:
            break
        assert time.monotonic() < deadline, result.stdout
        time.sleep(0.5)
    assert lines[1].split()[:5] == ["served", "every", "1h", "1/1", "1"]
    item = lines[4].split()
    assert item[:4] == ["served", "SYN:WATCH", "1d", "ok"]
    with urllib.request.urlopen(f"http://127.0.0.1:{served.http_port}/metrics", timeout=30) as r:
        metrics = r.read().decode()
    assert 'timebase_watchlist_runs_total{result="ok",watchlist="served"} 1.0' in metrics
    assert 'timebase_watchlist_items{watchlist="served"} 1.0' in metrics
