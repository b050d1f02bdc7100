"""The client commands (`timebase get/providers/symbols/ingest/backfill`) as a user runs them:
real subprocesses against servers listening on real ports (gateway gRPC + Flight in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.flight.conftest import FlightGateway, running_flight
from tests.gateway.support import DAY, T0, RecordingProvider
from timebase.client import TimeBase

pd: Any = importlib.import_module("pandas")

TIMEBASE = [sys.executable, "-m", "timebase.cli.main"]


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    fg: FlightGateway
    cwd: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
        env["TIMEBASE_GRPC_PORT"] = str(self.fg.gateway.server.port)
        env["TIMEBASE_FLIGHT_PORT"] = str(self.fg.server.port)
        env["TIMEBASE_LOG_LEVEL"] = "ERROR"
        return env

    async def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        proc = await asyncio.create_subprocess_exec(
            *TIMEBASE,
            *args,
            env=env or self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    def client(self) -> TimeBase:
        return TimeBase(
            "127.0.0.1",
            grpc_port=self.fg.gateway.server.port or 0,
            flight_port=self.fg.server.port or 0,
        )


@contextlib.asynccontextmanager
async def cli(database_url: str, cwd: Path, *providers: RecordingProvider) -> AsyncIterator[Cli]:
    async with running_flight(database_url, *providers) as fg:
        yield Cli(fg, cwd)


async def read_csv(text: str) -> Any:
    return await asyncio.to_thread(pd.read_csv, io.StringIO(text))


def _history(c: Cli, *args: Any, **kw: Any) -> pa.Table:
    with c.client() as tb:
        return tb.history(*args, **kw).replace_schema_metadata(None)


async def test_get_to_parquet_csv_json_and_table(fresh_database_url: str, tmp_path: Path) -> None:
    async with cli(fresh_database_url, tmp_path, RecordingProvider("alpha")) as run:
        out = tmp_path / "out.parquet"
        result = await run(
            "get",
            "acme",
            "-i",
            "1d",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-10",
            "-o",
            str(out),
        )
        assert result.code == 0, result.err
        assert "wrote 10 bars" in result.err
        written = await asyncio.to_thread(pq.read_table, out)
        expected = await asyncio.to_thread(_history, run, "ACME", "1d", "2024-01-01", "2024-01-10")
        assert expected.num_rows == 10
        assert written.equals(expected)

        result = await run(
            "get",
            "ACME",
            "-i",
            "1d",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-10",
            "--format",
            "csv",
        )
        assert result.code == 0, result.err
        frame = await read_csv(result.out)
        assert list(frame.columns) == expected.column_names
        assert frame["close"].tolist() == expected["close"].to_pylist()
        assert frame["timestamp"].iloc[0] == "2024-01-01T00:00:00Z"
        assert frame["timestamp"].iloc[-1] == "2024-01-10T00:00:00Z"

        result = await run(
            "get",
            "ACME",
            "MSFT",
            "-i",
            "1d",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            "--format",
            "json",
        )
        assert result.code == 0, result.err
        rows = json.loads(result.out)
        assert [(r["symbol"], r["timestamp"]) for r in rows] == [
            ("ACME", "2024-01-01T00:00:00Z"),
            ("ACME", "2024-01-02T00:00:00Z"),
            ("MSFT", "2024-01-01T00:00:00Z"),
            ("MSFT", "2024-01-02T00:00:00Z"),
        ]
        assert rows[0]["provider"] == "alpha"

        result = await run(
            "get", "ACME", "-i", "1d", "--start", "2024-01-01", "--end", "2024-01-03"
        )
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[0].split() == [
            "symbol",
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "provider",
        ]
        assert len(lines) == 4
        assert lines[1].split()[:2] == ["ACME", "2024-01-01T00:00:00Z"]


async def test_usage_errors_exit_2_with_one_line(fresh_database_url: str, tmp_path: Path) -> None:
    async with cli(fresh_database_url, tmp_path, RecordingProvider("alpha")) as run:
        for args, text in [
            (
                ("get", "AAPL", "-i", "5x", "--start", "2024-01-01"),
                "timebase: interval: unknown interval '5x'",
            ),
            (
                ("get", "AAPL", "-i", "1d", "--start", "nope"),
                "timebase: start: 'nope' is not an ISO 8601",
            ),
            (
                ("get", "AAPL", "-i", "1d", "--start", "2024-02-01", "--end", "2024-01-01"),
                "timebase: start: must be before end",
            ),
            (("get", "AA PL", "-i", "1d", "--start", "2024-01-01"), "timebase: symbols[0]:"),
            (
                ("get", "AAPL", "-i", "1d", "--start", "2024-01-01", "-o", "x.xlsx"),
                "timebase: output:",
            ),
            (
                ("get", "AAPL", "-i", "1d", "--start", "2024-01-01", "--format", "xml"),
                "timebase: format:",
            ),
            (("ingest", "missing.csv", "--provider", "x", "-i", "1d"), "timebase: file:"),
        ]:
            result = await run(*args)
            assert result.code == 2, (args, result)
            assert result.err.startswith(text), (args, result.err)
            assert len(result.err.strip().splitlines()) == 1, result.err
            assert "Traceback" not in result.err
        result = await run("get", "AAPL")  # argparse: missing -i/--start
        assert result.code == 2


async def test_server_errors_exit_1_with_one_line(fresh_database_url: str, tmp_path: Path) -> None:
    async with cli(fresh_database_url, tmp_path) as run:
        result = await run(
            "get", "AAPL", "-i", "1d", "--start", "2024-01-01", "--end", "2024-01-05"
        )
        assert result.code == 1
        assert result.err.startswith("timebase: ")
        assert len(result.err.strip().splitlines()) == 1
        env = dict(run.env, TIMEBASE_FLIGHT_PORT="1", TIMEBASE_GRPC_PORT="1")
        result = await run("get", "AAPL", "-i", "1d", "--start", "2024-01-01", env=env)
        assert result.code == 1
        assert result.err.startswith("timebase: cannot reach TimeBase Flight at 127.0.0.1:1")
        result = await run("providers", env=env)
        assert result.code == 1
        assert result.err.startswith("timebase: cannot reach TimeBase gRPC at 127.0.0.1:1")


async def test_providers_and_symbols(fresh_database_url: str, tmp_path: Path) -> None:
    async with cli(
        fresh_database_url, tmp_path, RecordingProvider("alpha"), RecordingProvider("beta")
    ) as run:
        result = await run("providers")
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[0].split()[:3] == ["slug", "status", "intervals"]
        assert sorted(line.split()[0] for line in lines[1:]) == ["alpha", "beta"]
        assert all(line.split()[1] == "ready" for line in lines[1:])

        result = await run("symbols", "acme")
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[0] == "ACME 1d:"
        assert lines[1].startswith("  1. ")
        assert lines[2].startswith("  2. ")


async def test_ingest_csv_and_parquet_then_get(fresh_database_url: str, tmp_path: Path) -> None:
    async with cli(fresh_database_url, tmp_path) as run:
        csv = tmp_path / "bars.csv"
        await asyncio.to_thread(
            csv.write_text,
            "symbol,timestamp,open,high,low,close,volume\n"
            "vend,2024-01-01,1.0,2.0,0.5,1.5,100\n"
            "vend,2024-01-02,1.5,2.5,1.0,2.0,200\n"
            "vend,2024-01-03T00:00:00Z,2.0,3.0,1.5,2.5,300\n",
        )
        result = await run("ingest", str(csv), "--provider", "my-csv", "-i", "1d")
        assert result.code == 0, result.err
        assert (
            result.out.strip()
            == "ingested 3 bars from bars.csv as my-csv 1d (3 inserted or changed)"
        )
        result = await run("ingest", str(csv), "--provider", "my-csv", "-i", "1d")
        assert "(0 inserted or changed)" in result.out

        table = await asyncio.to_thread(
            _history, run, "VEND", "1d", "2024-01-01", "2024-01-03", provider="my-csv"
        )
        assert table["close"].to_pylist() == [1.5, 2.0, 2.5]
        assert table["timestamp"].to_pylist() == [T0, T0 + DAY, T0 + 2 * DAY]

        parquet = tmp_path / "bars.parquet"
        await asyncio.to_thread(
            pq.write_table, table.drop_columns(["interval", "provider"]), parquet
        )
        result = await run("ingest", str(parquet), "--provider", "my-parquet", "-i", "1d")
        assert result.code == 0, result.err
        result = await run(
            "get",
            "VEND",
            "-i",
            "1d",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-03",
            "--provider",
            "my-parquet",
            "--format",
            "csv",
        )
        assert result.code == 0, result.err
        assert (await read_csv(result.out))["close"].tolist() == [1.5, 2.0, 2.5]

        bad = tmp_path / "bad.csv"
        await asyncio.to_thread(
            bad.write_text,
            "symbol,timestamp,open,high,low,close,volume\n"
            "bad,2024-01-01,1.0,2.0,0.5,1.5,100\n"
            "bad,2024-01-02,1.5,0.1,1.0,2.0,200\n",
        )
        result = await run("ingest", str(bad), "--provider", "my-csv", "-i", "1d")
        assert result.code == 1
        assert result.err.startswith("timebase: row 1, column ")
        assert "nothing was written" in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert [d.symbol for d in await run.fg.gateway.store.datasets()] == ["VEND", "VEND"]


async def test_backfill_with_progress(fresh_database_url: str, tmp_path: Path) -> None:
    alpha = RecordingProvider("alpha")
    async with cli(fresh_database_url, tmp_path, alpha) as run:
        result = await run(
            "backfill", "AAA", "bbb", "-i", "1d", "--start", "2024-01-01", "--end", "2024-01-31"
        )
        assert result.code == 0, result.err
        assert "[" in result.err
        assert "2/2" in result.err
        assert result.out.splitlines() == [
            "AAA 1d: 31 bars stored in [2024-01-01T00:00:00+00:00, 2024-02-01T00:00:00+00:00)",
            "BBB 1d: 31 bars stored in [2024-01-01T00:00:00+00:00, 2024-02-01T00:00:00+00:00)",
        ]
        stored = await run.fg.gateway.store.read_table(["AAA", "BBB"], "1d", T0, T0 + 31 * DAY)
        assert stored.num_rows == 62
        requests = len(alpha.requests)
        result = await run(
            "get",
            "AAA",
            "-i",
            "1d",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-31",
            "--cached-only",
            "--format",
            "csv",
        )
        assert len(result.out.strip().splitlines()) == 32
        assert len(alpha.requests) == requests


@pytest.mark.parametrize("interval", ["1m", "1h", "1d"])
def test_backfill_windows(interval: str) -> None:
    from timebase.cli.client_commands import backfill_windows
    from timebase.sdk.intervals import Interval

    windows = backfill_windows(T0, T0 + 400 * DAY, Interval(interval))
    assert windows[0][0] == T0
    assert windows[-1][1] == T0 + 400 * DAY
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
