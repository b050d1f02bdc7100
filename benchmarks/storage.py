"""Storage per bar: plain PostgreSQL tables vs compressed TimescaleDB hypertables.

The fixed dataset: the synthetic provider's default-seeded `SYN:BENCH01` … `SYN:BENCH20`, 1m bars
from 2025-01-01 to 2025-07-01 and 1d bars over the 20 years to 2025-07-01 (smoke: 2 symbols, two
days of 1m, one year of 1d). The bars come from the provider's own generator (never changed to
meet a target) and go through the store's write path (validation, upsert) into two embedded
servers: one without TimescaleDB, one with it preloaded. TimeBase's compression policy then runs
(`run_job`): it compresses every chunk older than 7 days. Sizes include
everything a bar costs on disk: heap, TOAST and indexes (`pg_total_relation_size` for the plain
tables, `hypertable_size` for the hypertables, which sums their chunks and compressed chunks).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from adbc_driver_postgresql import dbapi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, Results, Row, parse_args

sys.path.insert(0, str(ROOT / "providers" / "synthetic" / "src"))
from synthetic_provider import SeriesModel, bar_starts

from timebase.store import BAR_SCHEMA, Store
from timebase.store.embedded import EmbeddedPostgres, timescaledb_installed

END = datetime(2025, 7, 1, tzinfo=UTC)
DAILY_VOLATILITY = 0.015  # the synthetic provider's default

#: (interval, table, start) of the full dataset.
SERIES = (
    ("1m", "bars_intraday", datetime(2025, 1, 1, tzinfo=UTC)),
    ("1d", "bars_daily", datetime(2005, 7, 1, tzinfo=UTC)),
)
SMOKE_STARTS = {"1m": END - timedelta(days=2), "1d": END - timedelta(days=365)}
TARGET_SAVED_1M = 0.90


def bar_tables(symbol: str, interval: str, start: datetime) -> Iterator[pa.Table]:
    """The synthetic provider's bars of `symbol`, as the store's batches."""
    model = SeriesModel(symbol, DAILY_VOLATILITY)
    for starts, ends in bar_starts(interval, int(start.timestamp()), int(END.timestamp())):
        batch = model.bars(interval, starts, ends)
        n = batch.num_rows
        yield pa.table(
            {
                "symbol": pa.array([symbol] * n),
                "timestamp": batch.column(0),
                "open": batch.column(1),
                "high": batch.column(2),
                "low": batch.column(3),
                "close": batch.column(4),
                "volume": batch.column(5),
                "interval": pa.array([interval] * n),
                "provider": pa.array(["synthetic"] * n),
                "metadata": pa.nulls(n, pa.string()),
            }
        ).cast(BAR_SCHEMA)


def _sql(url: str, sql: str) -> list[tuple[Any, ...]]:
    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


async def measure(
    root: Path, timescale: bool, symbols: list[str], starts: dict[str, datetime]
) -> dict[str, tuple[int, int]]:
    """{interval: (bars, bytes)} on one backend."""
    server = EmbeddedPostgres(root, timescaledb="on" if timescale else "off")
    await server.start()
    try:
        async with Store(server.url, run_retention=False) as store:
            assert store.timescale.enabled is timescale, store.timescale
            if timescale:  # the policy runs once all bars are in (below), not while they load
                jobs = await asyncio.to_thread(
                    _sql,
                    server.url,
                    "SELECT j.job_id FROM timescaledb_information.jobs j, "
                    "LATERAL alter_job(j.job_id, scheduled => false) "
                    "WHERE j.proc_name = 'policy_compression'",
                )
            for symbol in symbols:
                for interval, _, _ in SERIES:
                    for table in bar_tables(symbol, interval, starts[interval]):
                        result = await store.write_provider_batch(table)
                        assert result.skipped == 0, result
        url = server.url
        sizes: dict[str, tuple[int, int]] = {}
        if timescale:  # the compression policy: every chunk older than 7 days
            for (job,) in jobs:
                await asyncio.to_thread(_sql, url, f"CALL run_job({int(job)})")
        await asyncio.to_thread(_sql, url, "VACUUM ANALYZE")
        for interval, table, _ in SERIES:
            size = (
                f"hypertable_size('{table}')" if timescale else f"pg_total_relation_size('{table}')"
            )
            ((bars, nbytes),) = await asyncio.to_thread(
                _sql, url, f"SELECT (SELECT count(*) FROM {table}), {size}"
            )
            sizes[interval] = (int(bars), int(nbytes))
        return sizes
    finally:
        await server.stop()


def main() -> None:
    args = parse_args(__doc__ or "")
    results = Results(args.out)
    count = 2 if args.smoke else 20
    symbols = [f"SYN:BENCH{i:02d}" for i in range(1, count + 1)]
    starts = SMOKE_STARTS if args.smoke else {interval: start for interval, _, start in SERIES}
    label = {
        "1m": f"{count} symbols, {starts['1m']:%Y-%m-%d}..{END:%Y-%m-%d}",
        "1d": f"{count} symbols, {(END - starts['1d']).days // 365} years",
    }
    if not timescaledb_installed():
        for interval, _, _ in SERIES:
            results.add(
                Row(
                    f"storage per {interval} bar ({label[interval]})",
                    "TimescaleDB, compressed",
                    "skipped: TimescaleDB is not installed in the embedded PostgreSQL "
                    "(make timescaledb)",
                )
            )
        return
    with tempfile.TemporaryDirectory(prefix="timebase-bench-storage-") as tmp:
        plain = asyncio.run(measure(Path(tmp) / "plain", False, symbols, starts))
        compressed = asyncio.run(measure(Path(tmp) / "timescaledb", True, symbols, starts))
    for interval, _, _ in SERIES:
        (bars, plain_bytes), (bars_ts, ts_bytes) = plain[interval], compressed[interval]
        assert bars == bars_ts, (bars, bars_ts)
        saved = 1 - ts_bytes / plain_bytes
        is_1m = interval == "1m"
        results.add(
            Row(
                f"storage per {interval} bar ({label[interval]})",
                "TimescaleDB, compressed",
                f"{ts_bytes / bars:.1f} B/bar ({ts_bytes / 2**20:.1f} MiB, {bars:,} bars)",
                "plain PostgreSQL tables",
                f"{plain_bytes / bars:.1f} B/bar ({plain_bytes / 2**20:.1f} MiB)",
                f"{saved:.1%} saved",
                f"≥ {TARGET_SAVED_1M:.0%} saved" if is_1m else "report",
                saved >= TARGET_SAVED_1M if is_1m else None,
                limit=(
                    "the price columns: scaled integers (timebase.store.prices) compress to "
                    "≈ 2 B per price, float8 prices (rows with more than 8 decimals) to ≈ 6 B; "
                    "the rest is volume (≈ 2 B) and TOAST chunking of the compressed batches "
                    "(docs/timescaledb.md)"
                    if is_1m and saved < TARGET_SAVED_1M
                    else ""
                ),
            )
        )


if __name__ == "__main__":
    main()
