"""A provider's BarChunk as an Arrow table: every value exact, in BAR_SCHEMA."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timebase.gateway.bar_columns import chunk_to_table
from timebase.provider import provider_pb2 as pb
from timebase.store import BAR_SCHEMA

#: Beyond 2**53: a timestamp that a float64 on the way would round.
_BIG_US = 2**62 + 7


def _chunk(**fields: list[float]) -> pb.BarChunk:
    values: dict[str, list[float]] = {
        "open": [0.1, 187.25],
        "high": [0.3, 190.0],
        "low": [0.05, 180.5],
        "close": [0.2, -0.0],
        "volume": [1e15, 0.0],
    }
    values.update(fields)
    chunk = pb.BarChunk(timestamps_us=[1_704_067_200_000_000, _BIG_US])
    for name, column in values.items():
        getattr(chunk, name).extend(column)
    return pb.BarChunk.FromString(chunk.SerializeToString())  # as received from the wire


def test_a_chunk_becomes_its_exact_values() -> None:
    chunk = _chunk()
    chunk.metadata.extend(['{"split":"2:1"}', ""])
    table = chunk_to_table(chunk, "ACME", "1m", "alpha")
    assert table.schema == BAR_SCHEMA
    assert table.column("timestamp")[0].as_py() == datetime(2024, 1, 1, tzinfo=UTC)
    assert table.column("timestamp").cast("int64").to_pylist() == [1_704_067_200_000_000, _BIG_US]
    assert table.column("open").to_pylist() == [0.1, 187.25]
    assert table.column("high").to_pylist() == [0.3, 190.0]
    assert table.column("low").to_pylist() == [0.05, 180.5]
    assert table.column("close").to_pylist() == [0.2, -0.0]
    assert table.column("volume").to_pylist() == [1e15, 0.0]
    assert table.column("metadata").to_pylist() == ['{"split":"2:1"}', None]
    assert table.column("symbol").to_pylist() == ["ACME", "ACME"]
    assert table.column("provider").to_pylist() == ["alpha", "alpha"]


def test_a_column_with_more_values_than_timestamps_is_cut_and_one_with_fewer_refused() -> None:
    longer = chunk_to_table(_chunk(open=[1.0, 2.0, 3.0]), "ACME", "1m", "alpha")
    assert longer.column("open").to_pylist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="a BarChunk column has 1 values for 2 timestamps"):
        chunk_to_table(_chunk(volume=[5.0]), "ACME", "1m", "alpha")


def test_an_empty_chunk_is_an_empty_table() -> None:
    table = chunk_to_table(pb.BarChunk(), "ACME", "1m", "alpha")
    assert table.num_rows == 0
    assert table.schema == BAR_SCHEMA
