"""The series of a bar batch (timebase.store.series_groups): the same answer as Acero's
`group_by`, without loading Acero for a batch of one series (#14, the gateway's memory)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from timebase.store.series_groups import SERIES, distinct_series, series_ranges

T = pa.timestamp("us", tz="UTC")


def _batch(symbols: list[str | None], stamps: list[int | None]) -> pa.Table:
    return pa.table(
        {
            "symbol": pa.array(symbols, pa.string()),
            "interval": pa.array(["1d"] * len(symbols), pa.string()),
            "provider": pa.array(["synthetic"] * len(symbols), pa.string()),
            "timestamp": pa.array(stamps, pa.int64()).cast(T),
        }
    )


def _grouped(table: pa.Table) -> list[dict[str, object]]:
    aggregated = table.group_by(list(SERIES)).aggregate(
        [("timestamp", "min"), ("timestamp", "max")]
    )
    return sorted(aggregated.to_pylist(), key=str)


def test_one_series_gives_its_first_and_last_timestamp() -> None:
    table = _batch(["AAPL"] * 3, [3_000_000, 1_000_000, 2_000_000])
    assert series_ranges(table) == [
        {
            "timestamp_min": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            "timestamp_max": datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC),
            "symbol": "AAPL",
            "interval": "1d",
            "provider": "synthetic",
        }
    ]
    assert series_ranges(table) == _grouped(table)
    assert distinct_series(table).to_pylist() == [
        {"symbol": "AAPL", "interval": "1d", "provider": "synthetic"}
    ]


@pytest.mark.parametrize(
    ("symbols", "stamps"),
    [
        (["AAPL", "MSFT", "AAPL"], [1, 2, 3]),  # two series
        (["AAPL", None, "AAPL"], [1, 2, 3]),  # a null symbol is a series of its own
        (["AAPL", "AAPL"], [None, 5]),  # null timestamps are skipped, as Acero skips them
        ([], []),  # no series
    ],
)
def test_the_same_answer_as_group_by(symbols: list[str | None], stamps: list[int | None]) -> None:
    table = _batch(symbols, stamps)
    assert sorted(series_ranges(table), key=str) == _grouped(table)
    expected = table.select(list(SERIES)).group_by(list(SERIES)).aggregate([])
    assert sorted(distinct_series(table).to_pylist(), key=str) == sorted(
        expected.to_pylist(), key=str
    )


#: A fresh interpreter: whether grouping a batch of `symbols` loaded pyarrow.acero.
ACERO = """
import sys, pyarrow as pa
from timebase.store.series_groups import distinct_series, series_ranges
symbols = sys.argv[1].split(",")
n = len(symbols)
table = pa.table({"symbol": symbols, "interval": ["1d"] * n, "provider": ["p"] * n,
                  "timestamp": pa.array(range(n), pa.int64())})
series_ranges(table), distinct_series(table)
print("pyarrow.acero" in sys.modules)
"""


@pytest.mark.parametrize(("symbols", "acero"), [("A,A,A", False), ("A,B", True)])
def test_acero_is_loaded_only_for_several_series(symbols: str, acero: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ACERO, symbols],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{acero}\n"
