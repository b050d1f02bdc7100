"""Request building without a database: every field's check, its message, and the defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from timebase.gateway.bar_limits import BarLimit, estimate_bars
from timebase.gateway.bar_request import (
    MAX_BARS_PER_REQUEST,
    MAX_SYMBOL_LENGTH,
    BarRequest,
    build_request,
    check_interval,
    check_provider,
    check_range,
    check_symbol,
    window_start,
)
from timebase.sdk.errors import InvalidIntervalError, InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import Interval

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)
VALID = "letters, digits and . - ^ = : _"
INTERVALS = "1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo"


def build(**kwargs: object) -> BarRequest:
    fields: dict[str, object] = {
        "symbol": "aapl",
        "interval": "1d",
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "end": datetime(2024, 2, 1, tzinfo=UTC),
        "now": NOW,
    }
    fields.update(kwargs)
    return build_request(**fields)  # type: ignore[arg-type]


def test_a_full_request() -> None:
    request = build(symbol=" brk.b ", limit=10, provider=" yahoo ", refresh=True)
    assert request == BarRequest(
        symbol="BRK.B",
        interval=Interval.D1,
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 2, 1, tzinfo=UTC),
        limit=10,
        provider="yahoo",
        refresh=True,
        start_given=True,
    )


def test_defaults() -> None:
    request = build(end=None)
    assert (request.end, request.limit, request.provider, request.refresh) == (
        NOW,
        None,
        None,
        False,
    )
    assert request.start_given


def test_with_range_keeps_the_other_fields() -> None:
    request = build(limit=5, provider="p")
    moved = request.with_range(datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC))
    assert moved == BarRequest(
        "AAPL",
        Interval.D1,
        datetime(2024, 1, 5, tzinfo=UTC),
        datetime(2024, 1, 6, tzinfo=UTC),
        5,
        "p",
    )


# -- symbol -------------------------------------------------------------------------------------


def test_symbol_accepts_its_whole_alphabet() -> None:
    assert check_symbol("^gspc") == "^GSPC"
    assert check_symbol("eurusd=x") == "EURUSD=X"
    assert check_symbol("sym:acme_1-b.c") == "SYM:ACME_1-B.C"
    assert check_symbol("A" * MAX_SYMBOL_LENGTH) == "A" * 64


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "symbol: must not be empty"),
        ("   ", "symbol: must not be empty"),
        ("A" * 65, "symbol: at most 64 characters, got 65"),
        ("AA PL", f"symbol: 'AA PL' may contain only {VALID}"),
        ("AAPL;", f"symbol: 'AAPL;' may contain only {VALID}"),
        ("ÄPFEL", f"symbol: 'ÄPFEL' may contain only {VALID}"),
    ],
)
def test_bad_symbols_are_named(raw: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        check_symbol(raw)
    assert str(err.value) == message
    assert err.value.details == {"field": "symbol"}
    assert err.value.code == "INVALID_REQUEST"


def test_check_symbol_names_the_field_it_is_given() -> None:
    with pytest.raises(InvalidRequestError, match=r"^symbols\[2\]: must not be empty$") as err:
        check_symbol("", field="symbols[2]")
    assert err.value.details == {"field": "symbols[2]"}


# -- interval -----------------------------------------------------------------------------------


def test_interval() -> None:
    assert check_interval("1wk") is Interval.W1
    with pytest.raises(InvalidIntervalError) as err:
        check_interval("")
    assert str(err.value) == f"interval: must not be empty; valid intervals: {INTERVALS}"
    assert err.value.details == {"field": "interval"}
    with pytest.raises(InvalidIntervalError) as err:
        check_interval("1D", field="iv")
    assert str(err.value) == f"iv: unknown interval '1D'; valid intervals: {INTERVALS}"
    assert err.value.details == {"field": "iv"}
    assert err.value.code == "INVALID_INTERVAL"


# -- provider -----------------------------------------------------------------------------------


def test_provider_slug() -> None:
    assert check_provider("") is None
    assert check_provider("  ") is None
    assert check_provider(" my_prov-2 ") == "my_prov-2"
    assert check_provider("0" + "a" * 62) == "0" + "a" * 62
    for bad in ("Yahoo", "-lead", "_lead", "a" * 64, "a.b", "a b"):
        with pytest.raises(InvalidRequestError) as err:
            check_provider(bad, field="p")
        assert str(err.value) == f"p: {bad!r} is not a provider slug (a-z, 0-9, '-', '_')"
        assert err.value.details == {"field": "p"}


# -- limit and range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (0, "limit: must be a positive integer, got 0"),
        (-3, "limit: must be a positive integer, got -3"),
        (
            5_000_001,
            "limit: 5,000,001 bars, more than the 5,000,000 one request may hold "
            "(grpc.max_bars): ask for fewer, or use Arrow Flight for bulk reads",
        ),
    ],
)
def test_bad_limits(limit: int, message: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        build(limit=limit)
    assert str(err.value) == message
    assert err.value.details["field"] == "limit"


def test_limits_at_the_bounds() -> None:
    assert build(limit=1).limit == 1
    assert build(limit=MAX_BARS_PER_REQUEST).limit == 5_000_000


def test_start_must_be_before_end() -> None:
    for end in (datetime(2024, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, tzinfo=UTC)):
        with pytest.raises(InvalidTimeRangeError) as err:
            build(end=end)
        assert str(err.value) == (
            "start_time: must be before end_time (got start_time=2024-01-01T00:00:00+00:00, "
            f"end_time={end.isoformat()})"
        )
        assert err.value.details == {"field": "start_time"}
        assert err.value.code == "INVALID_TIME_RANGE"
    tiny = build(end=datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC))
    assert tiny.end - tiny.start == timedelta(microseconds=1)


def test_without_start_a_limit_is_required() -> None:
    with pytest.raises(InvalidTimeRangeError) as err:
        build(start=None)
    assert str(err.value) == "start_time: required unless limit is set"
    assert err.value.details == {"field": "start_time"}


def test_without_start_the_first_window_holds_limit_bars() -> None:
    request = build(start=None, end=None, limit=100, interval="1h")
    assert (request.start, request.end, request.start_given) == (
        NOW - timedelta(hours=100),
        NOW,
        False,
    )
    request = build(start=None, limit=2)
    assert request.start == datetime(2024, 1, 30, tzinfo=UTC)  # exactly 2 days, not 2x
    assert not request.start_given


def test_a_huge_limit_starts_at_the_earliest_accepted_date() -> None:
    # 400,000 days back from 2024 would be year 929: no overflow, the window starts in 1900.
    request = build(start=None, limit=400_000, interval="1d")
    assert request.start == datetime(1900, 1, 1, tzinfo=UTC)
    monthly = build(start=None, limit=5_000_000, interval="1mo")
    assert monthly.start == datetime(1900, 1, 1, tzinfo=UTC)


def test_window_start() -> None:
    floor = datetime(1970, 1, 1, tzinfo=UTC)
    assert window_start(NOW, Interval.D1, 3, floor) == NOW - timedelta(days=3)
    assert window_start(NOW, Interval.M1, 60, floor) == NOW - timedelta(hours=1)
    assert window_start(NOW, Interval.MO1, 10**12, floor) == floor


def test_estimate_counts_every_slot() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert estimate_bars(Interval.D1, start, start + timedelta(days=10)) == 10
    assert estimate_bars(Interval.H1, start, start + timedelta(minutes=59)) == 1
    assert estimate_bars(Interval.M1, start, start + timedelta(minutes=2)) == 2
    assert estimate_bars(Interval.M1, start, start + timedelta(seconds=61)) == 2
    # The probe: 1m over 2024 (end=2024-12-31 on REST is the end of that day).
    assert estimate_bars(Interval.M1, start, datetime(2025, 1, 1, tzinfo=UTC)) == 527_040


def test_a_range_holding_too_many_bars_is_refused_unless_limited() -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end_ok = start + timedelta(minutes=MAX_BARS_PER_REQUEST)
    assert build(interval="1m", start=start, end=end_ok).end == end_ok
    end = end_ok + timedelta(minutes=1)
    with pytest.raises(InvalidTimeRangeError) as err:
        build(interval="1m", start=start, end=end)
    assert str(err.value) == (
        f"end_time: [2000-01-01T00:00:00+00:00, {end.isoformat()}) holds up to 5,000,001 1m "
        "bars, more than the 5,000,000 one request may hold (grpc.max_bars): ask for a "
        "shorter range or a coarser interval, or set limit, or use Arrow Flight for bulk reads"
    )
    assert err.value.details == {
        "field": "end_time",
        "estimate": 5_000_001,
        "max_bars": 5_000_000,
        "limit_key": "grpc.max_bars",
    }
    assert build(interval="1m", start=start, end=end, limit=10).limit == 10


def test_the_door_limit_is_the_one_checked() -> None:
    door = BarLimit(1_000, "rest.max_bars_text", "a JSON or CSV response", "", "narrow it")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ok = build(interval="1h", start=start, end=start + timedelta(hours=1_000), bar_limit=door)
    assert ok.end - ok.start == timedelta(hours=1_000)
    with pytest.raises(InvalidTimeRangeError, match=r"more than the 1,000 a JSON or CSV "):
        build(interval="1h", start=start, end=start + timedelta(hours=1_001), bar_limit=door)
    with pytest.raises(InvalidRequestError, match=r"^limit: 1,001 bars, more than the 1,000 "):
        build(start=None, limit=1_001, bar_limit=door)


@pytest.mark.parametrize(
    ("start", "end", "field", "shown"),
    [
        (
            datetime(1899, 12, 31, 23, 59, tzinfo=UTC),
            NOW,
            "start_time",
            "1899-12-31T23:59:00+00:00",
        ),
        (datetime(1, 1, 1, tzinfo=UTC), NOW, "start_time", "0001-01-01T00:00:00+00:00"),
        (NOW, datetime(9999, 12, 31, tzinfo=UTC), "end_time", "9999-12-31T00:00:00+00:00"),
        (NOW, datetime(2200, 1, 2, 0, 0, 1, tzinfo=UTC), "end_time", "2200-01-02T00:00:01+00:00"),
    ],
)
def test_dates_outside_1900_to_2200_are_refused(
    start: datetime, end: datetime, field: str, shown: str
) -> None:
    with pytest.raises(InvalidTimeRangeError) as err:
        build(start=start, end=end, interval="1mo")
    assert str(err.value) == (
        f"{field}: {shown} is out of range; dates from 1900-01-01 to 2200-01-01 (UTC) are accepted"
    )
    assert err.value.details["field"] == field


def test_the_accepted_dates_at_their_bounds() -> None:
    first, last = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 2, tzinfo=UTC)
    request = build(start=first, end=last, interval="1mo")
    assert (request.start, request.end) == (first, last)


def test_fields_are_checked_in_order() -> None:
    with pytest.raises(InvalidRequestError, match=r"^symbol: "):
        build(symbol="", interval="x", provider="X", limit=0, start=None)
    with pytest.raises(InvalidIntervalError, match=r"^interval: "):
        build(interval="x", provider="X", limit=0, start=None)
    with pytest.raises(InvalidRequestError, match=r"^provider: "):
        build(provider="X", limit=0, start=None)
    with pytest.raises(InvalidRequestError, match=r"^limit: "):
        build(limit=0, start=None)


def test_now_defaults_to_the_clock() -> None:
    before = datetime.now(UTC)
    request = build_request(
        symbol="A", interval="1d", start=datetime(2024, 1, 1, tzinfo=UTC), end=None
    )
    assert before <= request.end <= datetime.now(UTC)
    assert request.end.tzinfo is UTC


def test_check_range_names_the_missing_end() -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    assert check_range(start, end) == (start, end)
    for args, field in [
        ((None, end), "start_time"),
        ((start, None), "end_time"),
        ((None, None), "start_time"),
    ]:
        with pytest.raises(InvalidTimeRangeError) as err:
            check_range(*args)
        assert str(err.value) == f"{field}: required"
        assert err.value.details == {"field": field}
    with pytest.raises(InvalidTimeRangeError) as err:
        check_range(None, end, "from", "to")
    assert (str(err.value), err.value.details) == ("from: required", {"field": "from"})
    with pytest.raises(InvalidTimeRangeError) as err:
        check_range(start, None, "from", "to")
    assert (str(err.value), err.value.details) == ("to: required", {"field": "to"})
    with pytest.raises(InvalidTimeRangeError) as err:
        check_range(end, start, "from", "to")
    assert str(err.value) == (
        "from: must be before to (got from=2024-01-02T00:00:00+00:00, to=2024-01-01T00:00:00+00:00)"
    )
    assert err.value.details == {"field": "from"}


def test_build_request_names_the_doors_fields() -> None:
    with pytest.raises(InvalidTimeRangeError) as err:
        build(end=datetime(2023, 12, 31, tzinfo=UTC), start_field="from", end_field="to")
    assert str(err.value) == (
        "from: must be before to (got from=2024-01-01T00:00:00+00:00, to=2023-12-31T00:00:00+00:00)"
    )
    assert err.value.details == {"field": "from"}
