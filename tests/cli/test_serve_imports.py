"""`timebase serve` never loads pandas or polars (#14: the gateway's memory), even where they are
installed (this environment has both: the `dev` extra), nor pyarrow's cloud filesystems.

The real server runs in a fresh interpreter, started the way `timebase` starts it, with an
import audit hook and an exit hook that write down which of the two it loaded (and, for a
failure message, where the first attempt came from). Every door is used before it stops:
REST, gRPC, a Flight read and a Flight `DoPut`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.cli.serve_support import serve_database_env, start_serve
from tests.conftest import DatabaseServers
from timebase.v1 import bars_pb2
from timebase.v1 import bars_pb2_grpc as bars_grpc

#: `timebase serve` with two hooks: the first attempt to import each library (its stack), and
#: which of them are in sys.modules when the server has stopped.
SERVE = """
import atexit, json, sys, traceback
report, attempts = sys.argv[1], {}
def audit(event, args):
    if event == "import" and args[0].partition(".")[0] in ("pandas", "polars"):
        attempts.setdefault(args[0], "".join(traceback.format_stack(limit=25)))
sys.addaudithook(audit)
def write():
    loaded = sorted({m.partition(".")[0] for m in sys.modules} & {"pandas", "polars"})
    cloud = sorted(m for m in sys.modules if m.startswith("pyarrow._") and m.endswith("fs"))
    with open("/proc/self/maps") as f:
        libraries = sorted({line.rsplit("/", 1)[-1].strip() for line in f if "libarrow" in line})
    with open(report, "w") as f:
        json.dump({"loaded": loaded, "attempts": attempts, "modules": len(sys.modules),
                   "cloud": cloud, "libraries": libraries, "acero": "pyarrow.acero" in sys.modules}, f)
atexit.register(write)
from timebase.cli.main import main
sys.exit(main(["serve"]))
"""


@pytest.fixture
def served(
    data_dir: Path, tmp_path: Path, backend: str, database_servers: DatabaseServers
) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env.update(
        TIMEBASE_DATA_DIR=str(data_dir),
        TIMEBASE_GRPC_PORT="0",
        TIMEBASE_FLIGHT_PORT="0",
        TIMEBASE_HTTP_PORT="0",
        TIMEBASE_PROVIDERS_PROCESS_USER="root",  # see tests/supervisor/test_privileges.py
        TIMEBASE_PROVIDERS_ENABLED="synthetic",
        **serve_database_env(backend, database_servers),
    )
    report = tmp_path / "modules.json"
    proc, lines = start_serve(
        env, tmp_path, timeout=90, command=[sys.executable, "-c", SERVE, str(report)]
    )
    try:
        assert lines[-1:] == ["Press Ctrl-C to stop."], lines
        yield proc, "\n".join(lines), report
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _address(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.M)
    assert match, text
    return match.group(1)


def test_the_running_server_loads_neither_pandas_nor_polars(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, text, report = served
    grpc_address = _address(text, r"^  gRPC +(\S+)$")
    flight_address = _address(text, r"^  Flight +(\S+)$")
    rest = _address(text, r"^  REST +(\S+)$")

    url = f"{rest}/api/data/SYN:ACME?interval=1d&limit=5"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert json.load(response)["data"]["count"] == 5
    with grpc.insecure_channel(grpc_address) as channel:
        request = bars_pb2.GetBarsRequest(symbol="SYN:ACME", interval="1h", limit=48)
        chunks = list(bars_grpc.GatewayServiceStub(channel).GetBars(request, timeout=30))
    assert sum(len(c.timestamps_us) for c in chunks) == 48
    client = flight.connect(flight_address)
    try:
        query = {"symbol": "SYN:ACME", "interval": "1d", "start": "2024-01-01T00:00:00Z",
                 "end": "2024-02-01T00:00:00Z"}  # fmt: skip
        info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))
        table = pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)
        assert table.num_rows == 31
        start_us = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
        put = pa.table(
            {
                "symbol": ["LEAN:TEST"] * 3,
                "timestamp": pa.array(
                    [start_us + k * 60_000_000 for k in range(3)], pa.timestamp("us", tz="UTC")
                ),
                "open": [1.0, 2.0, 3.0],
                "high": [1.5, 2.5, 3.5],
                "low": [0.5, 1.5, 2.5],
                "close": [1.25, 2.25, 3.25],
                "volume": [10.0, 20.0, 30.0],
            }
        )
        descriptor = flight.FlightDescriptor.for_command(
            json.dumps({"provider": "ingest", "interval": "1m"})
        )
        writer, reply = client.do_put(descriptor, put.schema)
        writer.write_table(put)
        writer.done_writing()
        assert json.loads(reply.read().to_pybytes())["rows_written"] == 3
        writer.close()
    finally:
        client.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    modules = json.loads(report.read_text())
    assert modules["modules"] > 100  # the report is of the server, after it served
    first = "\n".join(f"first import of {n}:\n{s}" for n, s in modules["attempts"].items())
    assert modules["loaded"] == [], first
    # Storing the fetched bars (one series a batch) found their series without Acero
    # (timebase.store.series_groups), so neither pyarrow.acero nor pyarrow.fs was loaded, and
    # pyarrow's cloud filesystems stayed out (#14: the gateway's memory; timebase.sdk.lean).
    assert modules["acero"] is False
    assert modules["cloud"] == []
    assert not [lib for lib in modules["libraries"] if lib.startswith("libarrow_s3")]
