from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from timebase.sdk.errors import InvalidDataError
from timebase.store import BAR_SCHEMA, Store, clean_provider_batch, validate_user_batch

from .conftest import T0, bars_table, minutes

NAN = float("nan")
INF = float("inf")


def _with(table: pa.Table, name: str, row: int, value) -> pa.Table:
    values = table[name].to_pylist()
    values[row] = value
    index = table.schema.get_field_index(name)
    return table.set_column(
        index, table.schema.field(name), pa.array(values, table.schema.field(name).type)
    )


BAD_CELLS = [
    ("interval", "2m", "unknown interval"),
    ("open", NAN, "NaN or infinite"),
    ("close", INF, "NaN or infinite"),
    ("high", -INF, "NaN or infinite"),
    ("volume", NAN, "NaN or infinite"),
    ("high", 0.5, "high below low"),
    ("open", 3.5, "open outside [low, high]"),
    ("close", 0.5, "close outside [low, high]"),
    ("volume", -1.0, "negative volume"),
    ("symbol", None, "missing value"),
    ("timestamp", None, "missing value"),
    ("provider", None, "missing value"),
    ("low", None, "missing value"),
    ("symbol", "  ", "empty symbol"),
    ("metadata", "{not json", "metadata is not a JSON object"),
    ("metadata", "[1, 2]", "metadata is not a JSON object"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_CELLS)
def test_user_batch_names_first_bad_row_and_column(column, value, reason):
    table = _with(_with(bars_table(minutes(6)), column, 4, value), column, 2, value)
    with pytest.raises(InvalidDataError) as caught:
        validate_user_batch(table)
    assert caught.value.details["row"] == 2
    assert caught.value.details["column"] == column
    assert caught.value.details["reason"].startswith(reason)
    assert caught.value.message.startswith(f"row 2, column '{column}': {reason}")


def test_duplicate_key_names_the_later_row():
    table = bars_table([T0, T0 + timedelta(minutes=1), T0], symbol="aapl")
    table = _with(table, "symbol", 2, "AAPL")  # same key once upper-cased
    with pytest.raises(
        InvalidDataError, match=r"row 2, column 'timestamp': duplicate key .* row 0"
    ):
        validate_user_batch(table)


def test_naive_timestamps_are_refused():
    table = bars_table(minutes(2)).set_column(
        1, "timestamp", pa.array([datetime(2024, 1, 1), datetime(2024, 1, 2)], pa.timestamp("us"))
    )
    with pytest.raises(InvalidDataError, match=r"row 0, column 'timestamp': naive timestamps"):
        validate_user_batch(table)


def test_schema_problems_are_named():
    with pytest.raises(InvalidDataError, match="missing column 'close'"):
        validate_user_batch(bars_table(minutes(1)).drop_columns(["close"]))
    with pytest.raises(InvalidDataError, match="unknown column 'extra'"):
        validate_user_batch(bars_table(minutes(1)).append_column("extra", pa.array([1])))
    with pytest.raises(InvalidDataError, match="column 'open' has type string"):
        validate_user_batch(bars_table(minutes(1)).set_column(2, "open", pa.array(["1"])))


def test_valid_batch_is_normalised():
    table = bars_table(minutes(2), symbol=" aapl ").drop_columns(["metadata"])
    ns = table["timestamp"].cast(pa.timestamp("ns", tz="America/New_York"))
    table = table.set_column(1, "timestamp", ns).set_column(2, "open", pa.array([1, 2], pa.int64()))
    got = validate_user_batch(table)
    assert got.schema == BAR_SCHEMA
    assert got["symbol"].to_pylist() == ["AAPL", "AAPL"]
    assert got["timestamp"].to_pylist() == minutes(2)
    assert got["metadata"].null_count == 2


def test_provider_batch_keeps_the_good_rows_and_counts_the_rest():
    table = bars_table(minutes(8), close=[2.0] * 7 + [2.5])
    table = _with(table, "high", 1, NAN)
    table = _with(table, "high", 2, 0.5)
    table = _with(table, "interval", 3, "7m")
    table = _with(table, "timestamp", 7, T0)  # repeats row 0's key: the last one is kept
    cleaned = clean_provider_batch(table)
    assert cleaned.skipped == 4
    assert cleaned.reasons == {
        "high: NaN or infinite": 1,
        "high: high below low": 1,
        "interval: unknown interval (valid: 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo)": 1,
        "timestamp: duplicate key": 1,
    }
    assert cleaned.table.num_rows == 4
    assert sorted(cleaned.table["timestamp"].to_pylist()) == [
        T0,
        *minutes(3, T0 + timedelta(minutes=4)),
    ]
    assert 2.5 in cleaned.table["close"].to_pylist()


def test_clean_batch_without_problems_is_untouched():
    cleaned = clean_provider_batch(bars_table(minutes(3)))
    assert (cleaned.skipped, cleaned.reasons, cleaned.table.num_rows) == (0, {}, 3)
    assert clean_provider_batch(bars_table([])).table.num_rows == 0


@pytest.mark.parametrize(("column", "value", "reason"), BAD_CELLS[:9])
async def test_rejected_batch_writes_nothing(store: Store, column, value, reason):
    table = _with(bars_table(minutes(5)), column, 3, value)
    with pytest.raises(InvalidDataError, match=f"row 3, column '{column}'"):
        await store.ingest(table)
    assert await store.datasets() == []


async def test_ingest_and_provider_write(store: Store):
    assert await store.ingest(bars_table(minutes(3), symbol="msft")) == 3
    result = await store.write_provider_batch(_with(bars_table(minutes(3)), "low", 0, 5.0))
    assert (result.written, result.skipped) == (2, 1)
    assert result.reasons == {"high: high below low": 1}
    assert [d.rows for d in await store.datasets()] == [2, 3]


# -- exact messages and edge cases (found by mutation testing, docs/mutation.md) ----------------


def test_the_whole_message_names_row_column_reason_and_value():
    table = _with(bars_table(minutes(3)), "volume", 1, -2.5)
    with pytest.raises(InvalidDataError) as caught:
        validate_user_batch(table)
    assert caught.value.message == (
        "row 1, column 'volume': negative volume (value: -2.5); nothing was written"
    )
    assert caught.value.details == {"row": 1, "column": "volume", "reason": "negative volume"}


def test_a_duplicate_names_its_timestamp_and_the_first_row_with_the_same_key():
    # Rows 0 and 1 share the timestamp but not the symbol: row 2 repeats row 1, not row 0.
    table = bars_table([T0, T0, T0], symbol="AAPL")
    table = _with(table, "symbol", 0, "MSFT")
    with pytest.raises(InvalidDataError) as caught:
        validate_user_batch(table)
    assert caught.value.message == (
        "row 2, column 'timestamp': duplicate key (same symbol, interval, provider and timestamp "
        f"as row 1) (value: {T0.isoformat()}); nothing was written"
    )
    assert caught.value.details == {"row": 2, "column": "timestamp", "reason": "duplicate key"}


def test_a_single_bad_row_is_caught_by_both_policies():
    table = _with(bars_table(minutes(1)), "high", 0, 0.5)
    with pytest.raises(InvalidDataError, match=r"^row 0, column 'high': high below low"):
        validate_user_batch(table)
    cleaned = clean_provider_batch(table)
    assert (cleaned.skipped, cleaned.reasons, cleaned.table.num_rows) == (
        1,
        {"high: high below low": 1},
        0,
    )


def test_an_empty_batch_is_clean():
    cleaned = clean_provider_batch(bars_table([]))
    assert (cleaned.skipped, cleaned.reasons, cleaned.table.num_rows) == (0, {}, 0)
    assert cleaned.table.schema == BAR_SCHEMA
    assert validate_user_batch(bars_table([])).num_rows == 0


def test_type_errors_name_the_column():
    with pytest.raises(InvalidDataError) as caught:
        validate_user_batch(bars_table(minutes(1)).set_column(2, "open", pa.array(["1"])))
    assert caught.value.message == "column 'open' has type string, expected numbers"
    assert caught.value.details == {"column": "open"}


def test_an_empty_provider_is_refused_and_a_zero_volume_accepted():
    table = _with(bars_table(minutes(3)), "provider", 1, "")
    with pytest.raises(InvalidDataError) as caught:
        validate_user_batch(table)
    assert caught.value.message == (
        "row 1, column 'provider': empty provider (value: ''); nothing was written"
    )
    zero = _with(bars_table(minutes(2)), "volume", 0, 0.0)
    assert validate_user_batch(zero)["volume"].to_pylist() == [0.0, 100.0]


def _refused(table: pa.Table) -> InvalidDataError:
    with pytest.raises(InvalidDataError) as caught:
        validate_user_batch(table)
    return caught.value


def test_timestamp_problems_have_exact_messages_and_details():
    table = bars_table(minutes(2))
    wrong = _refused(table.set_column(1, "timestamp", pa.array([1, 2], pa.int64())))
    assert (
        wrong.message == "column 'timestamp' has type int64, expected a timestamp with a time zone"
    )
    assert wrong.details == {"column": "timestamp"}
    naive = _refused(table.set_column(1, "timestamp", table["timestamp"].cast(pa.timestamp("us"))))
    assert naive.message == (
        "row 0, column 'timestamp': naive timestamps are not accepted "
        "(the column needs a time zone, e.g. timestamp[us, tz=UTC])"
    )
    assert naive.details == {"row": 0, "column": "timestamp", "reason": "naive timestamp"}
    ns = pa.array([1_704_067_200_000_000_001, 1], pa.timestamp("ns", tz="UTC"))
    fine = _refused(table.set_column(1, "timestamp", ns))
    assert fine.message == (
        "column 'timestamp': timestamps below microsecond precision are not accepted"
    )
    assert fine.details == {"column": "timestamp"}
    assert fine.__cause__ is None
    assert fine.__suppress_context__


def test_string_columns_accept_large_and_dictionary_strings_only():
    table = bars_table(minutes(2), symbol="aapl")
    large = table.set_column(0, "symbol", table["symbol"].cast(pa.large_string()))
    assert validate_user_batch(large)["symbol"].to_pylist() == ["AAPL", "AAPL"]
    encoded = table.set_column(0, "symbol", table["symbol"].dictionary_encode())
    assert validate_user_batch(encoded)["symbol"].to_pylist() == ["AAPL", "AAPL"]
    wrong = _refused(table.set_column(0, "symbol", pa.array([1, 2])))
    assert wrong.message == "column 'symbol' has type int64, expected strings"
    assert wrong.details == {"column": "symbol"}


def test_schema_problems_have_exact_messages_and_details():
    table = bars_table(minutes(1))
    extra = _refused(table.append_column("extra", pa.array([1])))
    assert extra.message == (
        "unknown column 'extra'; expected columns: symbol, timestamp, open, high, low, close, "
        "volume, interval, provider, metadata"
    )
    assert extra.details == {"column": "extra"}
    missing = _refused(table.drop_columns(["close"]))
    assert missing.message == "missing column 'close'"
    assert missing.details == {"column": "close"}
    twice = _refused(
        pa.Table.from_arrays([*table.columns, table["open"]], [*table.column_names, "open"])
    )
    assert twice.message == "column 'open' appears twice; nothing was written"
    assert twice.details == {"column": "open"}


def test_two_rows_with_one_key_are_a_duplicate():
    table = bars_table([T0, T0], close=[1.5, 2.5])
    assert _refused(table).details == {"row": 1, "column": "timestamp", "reason": "duplicate key"}
    clean = clean_provider_batch(table)
    assert clean.table["close"].to_pylist() == [2.5]
    assert clean.skipped == 1


@pytest.mark.parametrize(
    ("timestamps", "symbols", "kept"),
    [
        # One series in time order: nothing repeats.
        ([T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)], ["A", "A", "A"], [0, 1, 2]),
        # Out of order, no repeat: all kept.
        ([T0 + timedelta(minutes=2), T0, T0 + timedelta(minutes=1)], ["A", "A", "A"], [0, 1, 2]),
        # In order but one timestamp repeats: the later row wins.
        ([T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)], ["A", "A", "A"], [0, 2]),
        # Two series with the same timestamps: no repeat.
        ([T0, T0, T0 + timedelta(minutes=1)], ["A", "B", "A"], [0, 1, 2]),
        # A symbol's case is not part of its key.
        ([T0, T0 + timedelta(minutes=1), T0], ["a", "A", "A"], [1, 2]),
    ],
)
def test_duplicates_in_and_out_of_time_order(
    timestamps: list[datetime], symbols: list[str], kept: list[int]
) -> None:
    table = bars_table(timestamps, close=[1.5, 2.0, 2.5])
    table = table.set_column(0, "symbol", pa.array(symbols))
    clean = clean_provider_batch(table)
    assert clean.table["close"].to_pylist() == [[1.5, 2.0, 2.5][i] for i in kept]
    assert clean.skipped == 3 - len(kept)


def test_an_invalid_row_is_not_counted_as_a_duplicate_too() -> None:
    table = bars_table([T0, T0, T0 + timedelta(minutes=1)], close=[1.5, 2.0, 2.5])
    table = _with(table, "high", 1, NAN)  # same key as row 0, but skipped as invalid
    clean = clean_provider_batch(table)
    assert clean.reasons == {"high: NaN or infinite": 1}
    assert clean.table["close"].to_pylist() == [1.5, 2.5]
