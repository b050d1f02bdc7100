"""Request building without a database: every field's check, its message, and the defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from timebase.gateway.bar_request import (
    MAX_BARS_PER_REQUEST,
    MAX_SYMBOL_LENGTH,
    BarRequest,
    build_request,
    check_interval,
    check_provider,
    check_range,
    check_symbol,
    estimate_bars,
    lookback_for_limit,
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
        (5_000_001, "limit: at most 5,000,000 bars per request, got 5,000,001"),
    ],
)
def test_bad_limits(limit: int, message: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        build(limit=limit)
    assert str(err.value) == message
    assert err.value.details == {"field": "limit"}


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


def test_without_start_the_range_reaches_back_for_the_limit() -> None:
    request = build(start=None, end=None, limit=100, interval="1h")
    assert (request.start, request.end, request.start_given) == (
        NOW - timedelta(hours=200),
        NOW,
        False,
    )
    request = build(start=None, limit=2)
    assert request.start == datetime(2024, 1, 25, tzinfo=UTC)  # at least a week
    assert not request.start_given


def test_lookback_for_limit() -> None:
    assert lookback_for_limit(Interval.D1, 3) == timedelta(days=7)
    assert lookback_for_limit(Interval.D1, 4) == timedelta(days=8)
    assert lookback_for_limit(Interval.M1, 60) == timedelta(days=7)
    assert lookback_for_limit(Interval.M1, 5041) == timedelta(minutes=10082)


def test_estimate_counts_every_slot_plus_one() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert estimate_bars(Interval.D1, start, start + timedelta(days=10)) == 11
    assert estimate_bars(Interval.H1, start, start + timedelta(minutes=59)) == 1
    assert estimate_bars(Interval.M1, start, start + timedelta(minutes=2)) == 3


def test_a_range_holding_too_many_bars_is_refused_unless_limited() -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    # 4,999,999 whole minutes: 5,000,000 bars at most, the bound itself.
    end_ok = start + timedelta(minutes=MAX_BARS_PER_REQUEST - 1)
    assert build(interval="1m", start=start, end=end_ok).end == end_ok
    end = end_ok + timedelta(minutes=1)
    with pytest.raises(InvalidTimeRangeError) as err:
        build(interval="1m", start=start, end=end)
    assert str(err.value) == (
        f"end_time: [2000-01-01T00:00:00+00:00, {end.isoformat()}) holds up to 5,000,001 1m "
        "bars, more than 5,000,000 per request; ask for a shorter range, or set limit"
    )
    assert err.value.details == {"field": "end_time"}
    assert build(interval="1m", start=start, end=end, limit=10).limit == 10


def test_the_size_check_is_skipped_without_start() -> None:
    # A reach-back is as long as the limit needs, never more than the limit allows.
    request = build(interval="1m", start=None, limit=MAX_BARS_PER_REQUEST)
    assert request.start == request.end - timedelta(minutes=2 * MAX_BARS_PER_REQUEST)


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
