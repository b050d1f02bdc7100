"""The SDK's bar validation, bar by bar and a record batch at a time, with exact counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from timebase.sdk import Bar
from timebase.sdk.bar_rules import value_problem
from timebase.sdk.validation import (
    REASONS,
    BarValidator,
    Columns,
    from_micros,
    metadata_json,
    metadata_map,
    to_micros,
)

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
US0 = 1_704_067_200_000_000  # DAY0 in µs
HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000


def hourly(days: int = 1) -> BarValidator:
    return BarValidator("1h", DAY0, DAY0 + timedelta(days=days))


def daily(days: int = 10) -> BarValidator:
    return BarValidator("1d", DAY0, DAY0 + timedelta(days=days))


# -- helpers ------------------------------------------------------------------------------------


def test_micros_round_trip_and_naive_is_utc() -> None:
    assert to_micros(DAY0) == US0
    assert to_micros(datetime(2024, 1, 1)) == US0
    assert to_micros(datetime(2024, 1, 1, 1, tzinfo=UTC)) == US0 + HOUR_US
    assert to_micros(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    assert from_micros(US0 + 1) == datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)


def test_metadata_is_canonical_json_with_string_values() -> None:
    assert metadata_json(None) == ""
    assert metadata_json({}) == ""
    assert metadata_json({"final": True, "adj_close": 1.5, "note": "ü x", "n": None}) == (
        '{"final":"true","adj_close":"1.5","note":"ü x","n":"null"}'
    )
    assert metadata_map("") == {}
    assert metadata_map('{"a":"x","b":2,"c":[1]}') == {"a": "x", "b": "2", "c": "[1]"}


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ((1.0, 2.0, 0.5, 1.5, 0.0), None),
        ((1.0, 1.0, 1.0, 1.0, 0.0), None),
        ((math.nan, 2.0, 0.5, 1.5, 1.0), "not_finite"),
        ((1.0, math.inf, 0.5, 1.5, 1.0), "not_finite"),
        ((1.0, 2.0, -math.inf, 1.5, 1.0), "not_finite"),
        ((1.0, 2.0, 0.5, math.nan, 1.0), "not_finite"),
        ((1.0, 2.0, 0.5, 1.5, math.inf), "not_finite"),
        ((1.0, 2.0, 0.5, 1.5, -0.5), "negative_volume"),
        ((0.4, 2.0, 0.5, 1.5, 1.0), "ohlc"),  # low above open
        ((1.0, 2.0, 0.5, 0.4, 1.0), "ohlc"),  # low above close
        ((2.1, 2.0, 0.5, 1.5, 1.0), "ohlc"),  # high below open
        ((1.0, 2.0, 0.5, 2.1, 1.0), "ohlc"),  # high below close
        ((math.nan, 2.0, 0.5, 1.5, -1.0), "not_finite"),  # the first reason wins
        ((0.4, 2.0, 0.5, 1.5, -1.0), "negative_volume"),
    ],
)
def test_value_problem(
    values: tuple[float, float, float, float, float], reason: str | None
) -> None:
    assert value_problem(*values) == reason


def test_columns_extend_slice_and_keep_last() -> None:
    a = Columns([1, 2, 3], [1.0] * 3, [2.0] * 3, [0.5] * 3, [1.5] * 3, [9.0] * 3, ["", "", "m"])
    b = Columns([4], [4.0], [5.0], [3.0], [4.5], [1.0], ["x"])
    a.extend(b)
    assert a == Columns(
        [1, 2, 3, 4],
        [1.0, 1.0, 1.0, 4.0],
        [2.0, 2.0, 2.0, 5.0],
        [0.5, 0.5, 0.5, 3.0],
        [1.5, 1.5, 1.5, 4.5],
        [9.0, 9.0, 9.0, 1.0],
        ["", "", "m", "x"],
    )
    assert len(a) == 4
    assert a.slice(1, 3) == Columns(
        [2, 3], [1.0, 1.0], [2.0, 2.0], [0.5, 0.5], [1.5, 1.5], [9.0, 9.0], ["", "m"]
    )
    assert a.slice(3).ts == [4]
    a.keep_last(5)
    assert len(a) == 4
    a.keep_last(2)
    assert a == Columns(
        [3, 4], [1.0, 4.0], [2.0, 5.0], [0.5, 3.0], [1.5, 4.5], [9.0, 1.0], ["m", "x"]
    )


# -- one bar at a time --------------------------------------------------------------------------


def test_check_counts_reasons_and_tracks_the_last_valid_bar() -> None:
    v = hourly()
    ok = (1.0, 2.0, 0.5, 1.5, 1.0)
    assert v.check(US0, ok) is None
    assert v.last_ts == US0
    assert v.check(US0, ok) == "not_increasing"
    assert v.check(US0 - 1, ok) == "out_of_range"
    assert v.check(US0 + DAY_US, ok) == "out_of_range"
    assert v.check(US0 + DAY_US - 1, ok) is None
    assert v.check(US0 + HOUR_US, (1.0, 2.0, 0.5, 1.5, -1.0)) == "negative_volume"
    assert v.last_ts == US0 + DAY_US - 1
    assert dict(v.skipped) == {"not_increasing": 1, "out_of_range": 2, "negative_volume": 1}
    assert v.skipped_total == 4


def test_intraday_bars_are_not_forced_onto_a_grid_but_daily_ones_are() -> None:
    ok = (1.0, 2.0, 0.5, 1.5, 1.0)
    assert hourly().check(US0 + 1, ok) is None
    assert not hourly().aligned
    assert BarValidator("4h", DAY0, DAY0 + timedelta(days=1)).check(US0 + 1, ok) is None
    for interval in ("1d", "1wk", "1mo"):
        v = BarValidator(interval, DAY0, DAY0 + timedelta(days=400))
        assert v.aligned
        assert v.check(US0 + 1, ok) == "misaligned"
        assert v.check(US0 + DAY_US, ok) is None


def test_describe_skipped_most_common_first() -> None:
    v = hourly()
    v.skipped.update({"ohlc": 1, "out_of_range": 3})
    assert v.describe_skipped() == (
        "skipped 4 invalid bar(s): 3 timestamp outside the requested range; "
        "1 high/low inconsistent with open/close"
    )
    assert set(REASONS) == {
        "not_finite",
        "negative_volume",
        "ohlc",
        "out_of_range",
        "not_increasing",
        "misaligned",
        "bad_metadata",
        "bad_timestamp",
    }


def test_bars_keeps_the_valid_ones_as_columns() -> None:
    v = hourly()
    bars: list[Any] = [
        Bar(DAY0, 1, 2, 0.5, 1.5, 10, {"final": True}),
        Bar(DAY0 + timedelta(hours=1), 1, 2, 3, 1.5),  # ohlc
        Bar("2024-01-01", 1, 2, 0.5, 1.5),  # type: ignore[arg-type]  # not a datetime
        Bar(DAY0 + timedelta(hours=2), "x", 2, 0.5, 1.5),  # type: ignore[arg-type]
        Bar(DAY0 + timedelta(hours=3), 1, 2, 0.5, 1.5, 1, {"bad": {1, 2}}),  # not JSON
        Bar(DAY0 + timedelta(hours=4), "1.25", 2, 0.5, 1.5, 7),  # type: ignore[arg-type]
        Bar(DAY0 + timedelta(hours=4), 1, 2, 0.5, 1.5),  # repeats the previous
        Bar(DAY0 + timedelta(hours=3, minutes=59), 1, 2, 0.5, 1.5),  # goes back
        Bar(DAY0 + timedelta(days=1), 1, 2, 0.5, 1.5),  # at the end: outside
        Bar(DAY0 + timedelta(hours=5), 1, 2, 0.5, 1.5, metadata=None),  # type: ignore[arg-type]
    ]
    out = v.bars(bars)
    assert out == Columns(
        [US0, US0 + 4 * HOUR_US, US0 + 5 * HOUR_US],
        [1.0, 1.25, 1.0],
        [2.0, 2.0, 2.0],
        [0.5, 0.5, 0.5],
        [1.5, 1.5, 1.5],
        [10.0, 7.0, 0.0],
        ['{"final":"true"}', "", ""],
    )
    assert [type(x) for x in out.open] == [float, float, float]
    assert dict(v.skipped) == {
        "ohlc": 1,
        "bad_timestamp": 1,
        "not_finite": 1,
        "bad_metadata": 1,
        "not_increasing": 2,
        "out_of_range": 1,
    }


def test_a_non_numeric_price_after_a_good_timestamp_counts_as_not_finite() -> None:
    v = hourly()
    v.bars([Bar(DAY0, None, 2, 0.5, 1.5)])  # type: ignore[arg-type]
    v.bars([Bar(DAY0, 1, 2, 0.5, 1.5, 10**400)])
    v.bars([Bar(None, 1, 2, 0.5, 1.5)])  # type: ignore[arg-type]
    assert dict(v.skipped) == {"not_finite": 2, "bad_timestamp": 1}


# -- record batches -----------------------------------------------------------------------------


def batch(
    hours: list[int | None],
    *,
    low: list[float] | None = None,
    volume: list[float] | None = None,
    metadata: list[str | None] | None = None,
    unit: str = "ms",
) -> pa.RecordBatch:
    n = len(hours)
    columns: dict[str, Any] = {
        "timestamp": pa.array(
            [None if h is None else DAY0 + timedelta(hours=h) for h in hours],
            pa.timestamp(unit, tz="UTC"),
        ),
        "open": [2.0] * n,
        "high": [3.0] * n,
        "low": low if low is not None else [1.0] * n,
        "close": pa.array([2] * n, pa.int32()),
    }
    if volume is not None:
        columns["volume"] = volume
    if metadata is not None:
        columns["metadata"] = pa.array(metadata, pa.string())
    return pa.RecordBatch.from_pydict(columns)


def test_an_empty_batch_is_empty_columns() -> None:
    assert hourly().batch(batch([])) == Columns()


def test_a_clean_batch_passes_whole_without_volume_or_metadata() -> None:
    v = hourly()
    out = v.batch(batch([0, 1, 2], unit="ns"))
    assert out == Columns(
        [US0, US0 + HOUR_US, US0 + 2 * HOUR_US],
        [2.0] * 3,
        [3.0] * 3,
        [1.0] * 3,
        [2.0] * 3,
        [0.0] * 3,
        ["", "", ""],
    )
    assert v.last_ts == US0 + 2 * HOUR_US
    assert v.skipped_total == 0


def test_a_batch_counts_each_bad_row_once_under_its_first_reason() -> None:
    v = hourly()
    out = v.batch(
        batch(
            [0, None, 2, 3, 4, 24, -1, 7],
            low=[1.0, 1.0, math.nan, 1.0, 2.5, 1.0, 1.0, 1.0],
            volume=[1.0, 1.0, 1.0, -1.0, -2.0, 1.0, 1.0, 1.0],
        )
    )
    assert out.ts == [US0, US0 + 7 * HOUR_US]
    assert out.volume == [1.0, 1.0]
    assert dict(v.skipped) == {
        "bad_timestamp": 1,
        "not_finite": 1,
        "negative_volume": 2,
        "out_of_range": 2,
    }


@pytest.mark.parametrize(
    ("open_", "high", "low", "close"),
    [(0.5, 3.0, 1.0, 2.0), (2.0, 3.0, 1.0, 0.5), (3.5, 3.0, 1.0, 2.0), (2.0, 3.0, 1.0, 3.5)],
)
def test_batch_ohlc_rule(open_: float, high: float, low: float, close: float) -> None:
    v = hourly()
    rows = pa.RecordBatch.from_pydict(
        {
            "timestamp": pa.array([DAY0], pa.timestamp("us", tz="UTC")),
            "open": [open_],
            "high": [high],
            "low": [low],
            "close": [close],
        }
    )
    assert len(v.batch(rows)) == 0
    assert dict(v.skipped) == {"ohlc": 1}


def test_daily_batches_must_be_at_midnight() -> None:
    v = daily()
    out = v.batch(batch([0, 25, 48]))
    assert out.ts == [US0, US0 + 2 * DAY_US]
    assert dict(v.skipped) == {"misaligned": 1}
    v = hourly()
    assert len(v.batch(batch([0, 25 - 24]))) == 2


def test_batches_stay_in_order_across_calls_and_drop_bad_metadata() -> None:
    v = hourly()
    first = v.batch(batch([0, 1, 2], metadata=['{"a": 1}', None, ""]))
    assert first.metadata == ['{"a":"1"}', "", ""]
    second = v.batch(batch([2, 4, 3, 5, 6], metadata=[None, "[1]", None, "{bad", '{"b":"x"}']))
    # 2 repeats the last bar; 4 and 5 have bad metadata, so 3 follows 2.
    assert second.ts == [US0 + 3 * HOUR_US, US0 + 6 * HOUR_US]
    assert second.metadata == ["", '{"b":"x"}']
    assert v.last_ts == US0 + 6 * HOUR_US
    assert dict(v.skipped) == {"not_increasing": 1, "bad_metadata": 2}
    # An unordered batch without metadata problems keeps its increasing rows.
    third = v.batch(batch([8, 7, 9]))
    assert third == Columns(
        [US0 + 8 * HOUR_US, US0 + 9 * HOUR_US],
        [2.0, 2.0],
        [3.0, 3.0],
        [1.0, 1.0],
        [2.0, 2.0],
        [0.0, 0.0],
        ["", ""],
    )
    assert v.last_ts == US0 + 9 * HOUR_US
    assert v.skipped["not_increasing"] == 2


def test_a_batch_wholly_before_the_last_bar_is_dropped() -> None:
    v = hourly()
    v.check(US0 + 5 * HOUR_US, (1.0, 2.0, 0.5, 1.5, 1.0))
    assert len(v.batch(batch([3, 4]))) == 0
    assert v.last_ts == US0 + 5 * HOUR_US
    assert dict(v.skipped) == {"not_increasing": 2}
    assert v.batch(batch([5, 6])).ts == [US0 + 6 * HOUR_US]


def test_a_batch_missing_a_price_column_is_a_type_error() -> None:
    rows = pa.RecordBatch.from_pydict({"timestamp": [1], "open": [1.0], "close": [1.0]})
    with pytest.raises(TypeError, match=r"^record batch lacks column\(s\) high, low$"):
        hourly().batch(rows)


def test_integer_timestamps_are_microseconds() -> None:
    rows = pa.RecordBatch.from_pydict(
        {
            "timestamp": pa.array([US0 + 5], pa.int64()),
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
        }
    )
    assert hourly().batch(rows).ts == [US0 + 5]


# -- found by mutation testing (docs/mutation.md) -----------------------------------------------


def test_micros_are_integers() -> None:
    assert type(to_micros(DAY0)) is int
    assert type(to_micros(datetime(2024, 1, 1, 0, 0, 0, 7, tzinfo=UTC))) is int


def test_keep_last_drops_a_single_row_too() -> None:
    cols = Columns(
        [1, 2, 3], [1.0] * 3, [2.0] * 3, [0.5] * 3, [1.5] * 3, [0.0] * 3, ["a", "b", "c"]
    )
    cols.keep_last(2)
    assert (cols.ts, cols.metadata) == ([2, 3], ["b", "c"])


def test_every_bad_metadata_is_counted() -> None:
    v = hourly()
    bad = {"x": {1}}
    v.bars([Bar(DAY0, 1, 2, 0.5, 1.5, 1, bad), Bar(DAY0, 1, 2, 0.5, 1.5, 1, bad)])
    assert dict(v.skipped) == {"bad_metadata": 2}


def test_a_batch_with_bad_rows_keeps_each_row_with_its_metadata() -> None:
    v = hourly()
    out = v.batch(batch([0, 1, 2], low=[1.0, 5.0, 1.0], metadata=['{"n": 0}', '{"n": 1}', None]))
    assert out.ts == [US0, US0 + 2 * HOUR_US]
    assert out.metadata == ['{"n":"0"}', ""]


def test_bad_metadata_in_an_ordered_batch_drops_that_row() -> None:
    v = hourly()
    out = v.batch(batch([0, 1, 2], metadata=[None, "[1]", '{"a": "b"}']))
    assert out.ts == [US0, US0 + 2 * HOUR_US]
    assert out.metadata == ["", '{"a":"b"}']
    assert dict(v.skipped) == {"bad_metadata": 1}
    assert v.last_ts == US0 + 2 * HOUR_US


def test_a_batch_whose_only_problem_is_a_missing_timestamp() -> None:
    v = hourly()
    assert v.batch(batch([0, None, 2])).ts == [US0, US0 + 2 * HOUR_US]
    assert dict(v.skipped) == {"bad_timestamp": 1}


def test_a_missing_price_in_a_batch_is_not_finite() -> None:
    v = hourly()
    rows = pa.RecordBatch.from_pydict(
        {
            "timestamp": pa.array([DAY0, DAY0 + timedelta(hours=1)], pa.timestamp("us", tz="UTC")),
            "open": [1.0, None],
            "high": [2.0, 2.0],
            "low": [0.5, 0.5],
            "close": [1.5, 1.5],
        }
    )
    assert v.batch(rows).ts == [US0]
    assert dict(v.skipped) == {"not_finite": 1}


def test_batch_counts_add_to_earlier_ones() -> None:
    v = hourly()
    v.check(US0, (1.0, 2.0, 0.5, 1.5, -1.0))
    v.batch(batch([1, 2], volume=[-1.0, 1.0]))
    assert dict(v.skipped) == {"negative_volume": 2}


def test_a_repeated_timestamp_inside_a_batch_is_not_increasing() -> None:
    v = hourly()
    assert v.batch(batch([0, 0, 1])).ts == [US0, US0 + HOUR_US]
    assert dict(v.skipped) == {"not_increasing": 1}


def test_nanosecond_timestamps_are_truncated_to_microseconds() -> None:
    rows = pa.RecordBatch.from_pydict(
        {
            "timestamp": pa.array([US0 * 1000 + 1_500], pa.timestamp("ns", tz="UTC")),
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
        }
    )
    assert hourly().batch(rows).ts == [US0 + 1]
