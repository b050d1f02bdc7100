"""Bulk read, repeated (hot) read and bulk ingest of 2M 1m bars, next to their baselines.

- bulk read: Flight `get_flight_info` + `do_get` into a pyarrow Table (one endpoint: one symbol of
  2M bars; parallel endpoints: 4 symbols of 500k bars read in 4 threads) vs a raw single-connection
  ADBC `fetch_arrow_table` of the same rows (the store's full SELECT of the answer's columns,
  `BarQuery.sql()`; the store itself leaves out a one-series read's constant columns and makes
  them from the query); psycopg `fetchall` → pandas (side venv, the same full SELECT); the REST JSON route in 100k-bar requests. These are reads from PostgreSQL:
  they are sent to a second gateway on the same database with its hot tier turned off, so no
  repeat is served from the first gateway's hot tier.
- repeated bulk read (hot): the first (cold) Flight read of the stored bars, then the same query
  again (whatever Flight serves on a repeat: PostgreSQL, or the hot tier once there is one) vs
  bare pyarrow Flight serving the same table from memory in another process (`_floor_flight.py`:
  the transport's limit; the two reads take turns, so a shared machine's drift during the run
  weighs on both), vs the REST JSON route reading the same bars again in 100k-bar
  requests from the same gateway (the default configuration, hot tier on: the two doors compared
  where neither waits for PostgreSQL; the cold REST row above stays), and vs ArcticDB reading the
  same frame from a local LMDB library in-process (the `bench` extra, in a side venv: ArcticDB
  pins protobuf < 7; "not installed" when it cannot be installed).
- bulk ingest: Flight `do_put` (validated upsert) into an empty store vs raw ADBC `adbc_ingest`
  (COPY) into an empty table shaped like the store's (same primary key and indexes; on
  TimescaleDB a hypertable with the store's chunk interval).

The data is imported as provider `bench` (a data set with no running add-on, as `DoPut` leaves
it), so every door serves it provider-aware from the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from adbc_driver_postgresql import dbapi
from pyarrow import feather, flight

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Results,
    Row,
    Served,
    Stat,
    alternate,
    bench_requirements,
    fmt,
    parse_args,
    rate,
    ratio_text,
    repeat,
    run_side,
    serve,
    side_venv,
)

from timebase.store import BarQuery
from timebase.store.timescale import HYPERTABLES

START = datetime(2020, 1, 1, tzinfo=UTC)
PROVIDER = "bench"
PARALLEL = 4

PSYCOPG_SCRIPT = """
import json, sys, time
import pandas as pd
import psycopg
args = json.load(sys.stdin)
times = []
with psycopg.connect(args["url"]) as conn:
    for run in range(args["runs"] + 1):
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(args["sql"])
            columns = [d.name for d in cur.description]
            df = pd.DataFrame(cur.fetchall(), columns=columns)
        conn.rollback()
        assert len(df) == args["rows"], len(df)
        if run:
            times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "version": psycopg.__version__}))
"""

ARCTIC_SCRIPT = """
import json, sys, time
import arcticdb, pandas as pd
args = json.load(sys.stdin)
df = pd.read_feather(args["frame"]).set_index("timestamp")
lib = arcticdb.Arctic("lmdb://" + args["dir"]).get_library("bench", create_if_missing=True)
lib.write("BENCH", df)
times = []
for run in range(args["runs"] + 1):
    t = time.perf_counter()
    out = lib.read("BENCH").data
    assert len(out) == args["rows"], len(out)
    if run:
        times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "version": arcticdb.__version__}))
"""


def seed_sql(symbol: str, rows: int) -> str:
    """Server-side generated bars of one symbol: 1m bars from START, valid OHLC."""
    return f"""
        INSERT INTO bars_intraday (symbol, "interval", provider, ts, open, high, low, close, volume)
        SELECT '{symbol}', '1m', '{PROVIDER}', timestamptz '{START.isoformat()}' + i * interval '1 minute',
               p, p + 0.5, p - 0.5, p + 0.25, (i % 977) * 10.0
        FROM (SELECT i, 100.0 + (i % 1000) * 0.01 AS p FROM generate_series(0, {rows - 1}) i) g
    """


def bars_table(symbol: str, rows: int) -> pa.Table:
    """`rows` 1m bars of `symbol` in the Flight schema (provider and interval left to the
    descriptor)."""
    import numpy as np

    i = np.arange(rows, dtype=np.int64)
    start_us = int(START.timestamp()) * 1_000_000
    price = 100.0 + (i % 1000) * 0.01
    return pa.table(
        {
            "symbol": pa.array([symbol] * rows, pa.string()),
            "timestamp": pa.array(start_us + i * 60_000_000, pa.timestamp("us", tz="UTC")),
            "open": price,
            "high": price + 0.5,
            "low": price - 0.5,
            "close": price + 0.25,
            "volume": (i % 977) * 10.0,
        }
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    results = Results(args.out, args.backend)
    rows = 20_000 if args.smoke else 2_000_000
    rest_chunk = 5_000 if args.smoke else 100_000
    end = START + timedelta(minutes=rows)
    with (
        serve(_config(), backend=args.backend) as served,
        dbapi.connect(served.database_url, autocommit=True) as db,
    ):
        with db.cursor() as cur:
            cur.execute(seed_sql("BENCH", rows))
            for k in range(PARALLEL):
                cur.execute(seed_sql(f"BENCHP{k}", rows // PARALLEL))
            cur.execute("VACUUM ANALYZE bars_intraday")
            cur.execute("CHECKPOINT")
        client = flight.connect(served.flight)
        single_q = {"symbol": "BENCH", "interval": "1m", "provider": PROVIDER,
                    "start": START.isoformat(), "end": end.isoformat()}  # fmt: skip
        quarter_end = START + timedelta(minutes=rows // PARALLEL)
        parallel_q = {"symbols": [f"BENCHP{k}" for k in range(PARALLEL)], "interval": "1m",
                      "provider": PROVIDER, "start": START.isoformat(),
                      "end": quarter_end.isoformat()}  # fmt: skip
        single_sql = BarQuery.build("BENCH", "1m", START, end, provider=PROVIDER).sql()
        parallel_sql = BarQuery.build(
            parallel_q["symbols"], "1m", START, quarter_end, provider=PROVIDER
        ).sql()

        started = time.perf_counter()
        _flight_read(client, single_q, rows)  # the first read of these bars
        cold = rate(rows, Stat((time.perf_counter() - started,)))
        # The same bars again through REST, in the default configuration (hot tier on).
        rest_hot = rate(rows, repeat(lambda: _rest_read(served.rest, rows, rest_chunk)))
        flight_one, flight_par, rest = _cold_reads(served, single_q, parallel_q, rows, rest_chunk)
        with dbapi.connect(served.database_url) as conn:
            adbc_one = rate(rows, repeat(lambda: _adbc_read(conn, single_sql, rows)))
            adbc_par = rate(rows, repeat(lambda: _adbc_read(conn, parallel_sql, rows)))

        unit = "rows/s"
        _compare(results, "bulk read", "Flight, 1 endpoint", flight_one,
                 "raw ADBC fetch_arrow_table, 1 connection", adbc_one, unit, 0.9)  # fmt: skip
        _compare(results, "bulk read", f"Flight, {PARALLEL} endpoints in parallel", flight_par,
                 "raw ADBC fetch_arrow_table, 1 connection", adbc_par, unit, 1.0)  # fmt: skip
        psycopg = _psycopg(served.database_url, single_sql, rows, args.smoke)
        _compare(results, "bulk read", "Flight, 1 endpoint", flight_one,
                 "psycopg fetchall → pandas", psycopg, unit, 8.0,
                 skipped="skipped in smoke mode (side venv)" if args.smoke else
                 "skipped: psycopg could not be installed")  # fmt: skip
        _compare(results, "bulk read", "Flight, 1 endpoint", flight_one,
                 f"REST JSON, {rest_chunk // 1000}k-bar requests", rest, unit, 20.0)  # fmt: skip

        hot = "repeated bulk read (hot)"
        results.add(Row(hot, "Flight, 1 endpoint, first (cold) read", fmt(cold, unit)))
        with tempfile.TemporaryDirectory(prefix="timebase-bench-hot-") as tmp:
            frame = Path(tmp) / "frame.arrow"
            _save_answer(client, single_q, frame)
            hot_one, floor = _hot_and_bare_flight(client, single_q, frame, rows)
            _compare(results, hot, "Flight, 1 endpoint, same query again", hot_one,
                     "bare pyarrow Flight, the same table from memory", floor, unit, 0.8)  # fmt: skip
            _compare(results, hot, "Flight, 1 endpoint, same query again", hot_one,
                     f"REST JSON, {rest_chunk // 1000}k-bar requests, same query again", rest_hot,
                     unit, 20.0)  # fmt: skip
            arctic, why = _arcticdb(frame, rows, args.smoke)
            _compare(results, hot, "Flight, 1 endpoint, same query again", hot_one,
                     "ArcticDB, local LMDB, in-process", arctic, unit, 1.0, goal=True,
                     skipped=why)  # fmt: skip

        table = bars_table("INGEST", rows)
        flight_put = rate(rows, repeat(lambda: _flight_put(client, db, table, rows)))
        copy_table = _copy_table(table)
        adbc_put = rate(rows, repeat(lambda: _adbc_ingest(served.database_url, db, copy_table)))
        _compare(results, "bulk ingest", "Flight do_put (upsert) into an empty store",
                 flight_put, "raw ADBC adbc_ingest (COPY), empty table, same PK", adbc_put, unit,
                 0.75)  # fmt: skip
        client.close()


def _cold_reads(
    served: Served, single_q: dict[str, Any], parallel_q: dict[str, Any], rows: int, chunk: int
) -> tuple[Stat, Stat, Stat]:
    """Flight (1 endpoint, parallel endpoints) and REST read rates from PostgreSQL: through a
    second gateway on the same database with its hot tier off (the first one would answer
    repeats from its hot tier)."""
    with serve(_config(database_url=served.database_url, hot_tier=False)) as cold_served:
        client = flight.connect(cold_served.flight)
        one = rate(rows, repeat(lambda: _flight_read(client, single_q, rows)))
        parallel = rate(rows, repeat(lambda: _flight_read(client, parallel_q, rows)))
        client.close()
        rest = rate(rows, repeat(lambda: _rest_read(cold_served.rest, rows, chunk)))
    return one, parallel, rest


def _config(*, database_url: str | None = None, hot_tier: bool = True) -> dict[str, Any]:
    from _common import bench_config

    # Only the store is read: no provider add-on is needed.
    config: dict[str, Any] = bench_config(providers={"enabled": ["synthetic"]})
    if database_url is not None:
        config["database"] = {"url": database_url}
    config["hot_tier"] = {"enabled": hot_tier}
    return config


def _compare(  # noqa: PLR0917
    results: Results,
    scenario: str,
    path: str,
    ours: Stat,
    baseline: str,
    theirs: Stat | None,
    unit: str,
    target: float,
    *,
    goal: bool = False,
    skipped: str = "",
    limit: str = "",
) -> None:
    target_text = f"{'goal ' if goal else ''}≥ {target:.2f}×"
    if theirs is None:
        results.add(Row(scenario, path, fmt(ours, unit), baseline, skipped, "—", target_text))
        return
    ratio = ours.median / theirs.median
    results.add(
        Row(
            scenario,
            path,
            fmt(ours, unit),
            baseline,
            fmt(theirs, unit),
            ratio_text(ratio),
            target_text,
            ratio >= target,
            limit=limit if ratio < target else "",
        )
    )


def _flight_read(client: flight.FlightClient, query: dict[str, Any], rows: int) -> None:
    descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
    info = client.get_flight_info(descriptor)
    endpoints = list(info.endpoints)

    def read(endpoint: flight.FlightEndpoint) -> pa.Table:
        table: pa.Table = client.do_get(endpoint.ticket).read_all()
        return table

    if len(endpoints) == 1:
        tables = [read(endpoints[0])]
    else:
        with ThreadPoolExecutor(len(endpoints)) as pool:
            tables = list(pool.map(read, endpoints))
    table = pa.concat_tables(tables)
    assert table.num_rows == rows, (table.num_rows, rows)


def _adbc_read(conn: Any, sql: str, rows: int) -> None:
    with conn.cursor() as cur:
        cur.execute(sql)
        table = cur.fetch_arrow_table()
    conn.rollback()
    assert table.num_rows == rows, (table.num_rows, rows)


def _rest_read(base: str, rows: int, chunk: int) -> None:
    got = 0
    for first in range(0, rows, chunk):
        start = START + timedelta(minutes=first)
        end = START + timedelta(minutes=min(rows, first + chunk))
        url = (
            f"{base}/api/providers/{PROVIDER}/data/BENCH?interval=1m"
            f"&start={start.strftime('%Y-%m-%dT%H:%M:%SZ')}&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )
        with urllib.request.urlopen(url, timeout=300) as response:
            body = orjson.loads(response.read())
        got += len(body["data"]["data"])
    assert got == rows, (got, rows)


def _psycopg(url: str, sql: str, rows: int, smoke: bool) -> Stat | None:
    if smoke:
        return None
    python = side_venv("psycopg", bench_requirements("psycopg", "pandas"))
    if python is None:
        return None
    out = run_side(python, PSYCOPG_SCRIPT, {"url": url, "sql": sql, "rows": rows, "runs": 5})
    return rate(rows, Stat(tuple(out["times"])))


def _save_answer(client: flight.FlightClient, query: dict[str, Any], path: Path) -> None:
    """The Flight answer to `query`, as an Arrow IPC file (what the baselines serve and read)."""
    info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))
    table = pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)
    feather.write_feather(table, str(path), compression="uncompressed")


def _hot_and_bare_flight(
    client: flight.FlightClient, query: dict[str, Any], frame: Path, rows: int
) -> tuple[Stat, Stat]:
    """The repeated read of `query` from the gateway, and the same read from bare pyarrow Flight
    serving the table from memory (another process), taking turns."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "_floor_flight.py"), str(frame)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        bare = flight.connect(f"grpc://127.0.0.1:{port}")
        try:
            ours, theirs = alternate(
                lambda: _flight_read(client, query, rows),
                lambda: _flight_read(bare, {"floor": True}, rows),
            )
            return rate(rows, ours), rate(rows, theirs)
        finally:
            bare.close()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _arcticdb(frame: Path, rows: int, smoke: bool) -> tuple[Stat | None, str]:
    """ArcticDB reading the frame in-process (side venv of the `bench` extra), or why not."""
    if smoke:
        return None, "skipped in smoke mode (side venv)"
    python = side_venv("arcticdb", bench_requirements("arcticdb", "pandas", "pyarrow"))
    if python is None:
        return None, "not installed (the bench extra's arcticdb could not be installed)"
    try:
        out = run_side(
            python,
            ARCTIC_SCRIPT,
            {"frame": str(frame), "dir": str(frame.parent / "lmdb"), "rows": rows, "runs": 5},
        )
    except RuntimeError as exc:
        print(f"  ArcticDB baseline failed: {exc}", file=sys.stderr)
        return None, "failed (see the run's log)"
    return rate(rows, Stat(tuple(out["times"]))), ""


def _truncate(db: Any) -> None:
    with db.cursor() as cur:
        cur.execute("TRUNCATE bars_intraday, coverage")
        cur.execute("CHECKPOINT")


def _flight_put(client: flight.FlightClient, db: Any, table: pa.Table, rows: int) -> float:
    _truncate(db)
    descriptor = flight.FlightDescriptor.for_command(
        json.dumps({"provider": "ingest", "interval": "1m"})
    )

    started = time.perf_counter()
    writer, reply = client.do_put(descriptor, table.schema)
    writer.write_table(table, max_chunksize=65_536)
    writer.done_writing()
    answer = json.loads(reply.read().to_pybytes())
    writer.close()
    elapsed = time.perf_counter() - started
    assert answer["rows_written"] == rows, answer
    return elapsed


def _copy_table(table: pa.Table) -> pa.Table:
    n = table.num_rows
    return pa.table(
        {
            "symbol": table["symbol"],
            "interval": pa.array(["1m"] * n, pa.string()),
            "provider": pa.array(["ingest"] * n, pa.string()),
            "ts": table["timestamp"],
            **{c: table[c] for c in ("open", "high", "low", "close", "volume")},
        }
    )


def _hypertable_if_store_is(cur: Any) -> None:
    """On TimescaleDB the baseline's table is a hypertable chunked like `bars_intraday` (COPY into
    a hypertable routes every row to its chunk), so both sides write the same kind of table."""
    cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
    if not cur.fetchone()[0]:
        return
    chunk = dict(HYPERTABLES)["bars_intraday"]
    cur.execute(
        "SELECT hypertable_id FROM create_hypertable('bench_copy', "
        f"by_range('ts', INTERVAL '{chunk}'), create_default_indexes => FALSE)"
    )
    cur.fetchall()


def _adbc_ingest(url: str, db: Any, table: pa.Table) -> float:

    with db.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy")
        cur.execute("CREATE TABLE bench_copy (LIKE bars_intraday INCLUDING ALL)")
        _hypertable_if_store_is(cur)
        cur.execute("CHECKPOINT")
    with dbapi.connect(url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.adbc_ingest("bench_copy", table, mode="append")
        conn.commit()
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
