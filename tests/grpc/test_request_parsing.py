"""gRPC request messages and metadata → BarRequest, without a server or a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from timebase.gateway.bar_request import BarRequest
from timebase.grpc.request_parsing import (
    PROVIDER_METADATA_KEY,
    REFRESH_METADATA_KEY,
    metadata_value,
    parse_bar_request,
    request_timestamp,
)
from timebase.provider import provider_pb2
from timebase.sdk.errors import InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import Interval
from timebase.v1 import bars_pb2

START = datetime(2024, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
END = datetime(2024, 2, 1, tzinfo=UTC)


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def historical(**kwargs: object) -> provider_pb2.HistoricalDataRequest:
    fields: dict[str, object] = {
        "symbol": "msft",
        "interval": "1h",
        "start_time": ts(START),
        "end_time": ts(END),
    }
    fields.update(kwargs)
    return provider_pb2.HistoricalDataRequest(**fields)  # type: ignore[arg-type]


def test_metadata_keys() -> None:
    assert PROVIDER_METADATA_KEY == "x-timebase-provider"
    assert REFRESH_METADATA_KEY == "x-timebase-refresh"


def test_metadata_value_is_case_insensitive_on_the_key_and_decodes_bytes() -> None:
    metadata: list[tuple[str, str | bytes]] = [
        ("other", "x"),
        ("X-TimeBase-Provider", b"yahoo"),
        ("x-timebase-provider", "b"),
    ]
    assert metadata_value(metadata, "x-timebase-provider") == "yahoo"
    assert metadata_value([("k", "v")], "k") == "v"
    assert metadata_value([("k", "v")], "x") is None
    assert metadata_value(None, "k") is None


def test_a_request_with_every_field() -> None:
    request = parse_bar_request(
        historical(limit=7, provider="yahoo", refresh=True), [("x-timebase-provider", "other")]
    )
    assert request == BarRequest("MSFT", Interval.H1, START, END, 7, "yahoo", True, True)


def test_metadata_stands_in_for_provider_and_refresh() -> None:
    request = parse_bar_request(
        historical(), [("x-timebase-provider", b"local"), ("x-timebase-refresh", " TRUE ")]
    )
    assert (request.provider, request.refresh, request.limit) == ("local", True, None)


@pytest.mark.parametrize(
    ("flag", "refresh"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("no", False),
        ("false", False),
        ("", False),
    ],
)
def test_refresh_flag_values(flag: str, refresh: bool) -> None:
    request = parse_bar_request(historical(), [("x-timebase-refresh", flag)])
    assert request.refresh is refresh


def test_no_metadata() -> None:
    request = parse_bar_request(historical(), None)
    assert (request.provider, request.refresh) == (None, False)


def test_limit_zero_is_set_and_refused_while_unset_is_none() -> None:
    with pytest.raises(InvalidRequestError, match=r"^limit: must be a positive integer, got 0$"):
        parse_bar_request(historical(limit=0), None)
    assert parse_bar_request(historical(), None).limit is None


def test_the_gateway_request_parses_the_same() -> None:
    message = bars_pb2.GetBarsRequest(
        symbol="msft", interval="1h", start_time=ts(START), end_time=ts(END), provider="p"
    )
    assert parse_bar_request(message, None) == BarRequest(
        "MSFT", Interval.H1, START, END, None, "p"
    )


def test_timestamps_keep_microseconds_and_unset_is_none() -> None:
    message = historical()
    assert request_timestamp(message, "start_time") == START
    message.ClearField("end_time")
    assert request_timestamp(message, "end_time") is None
    nanos = timestamp_pb2.Timestamp(seconds=0, nanos=1_999)
    assert request_timestamp(historical(start_time=nanos), "start_time") == datetime(
        1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected"),
    [
        (-62_135_596_800, 0, datetime(1, 1, 1, tzinfo=UTC)),
        (-62_135_596_801, 0, None),
        (253_402_300_799, 999_999_999, datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
        (253_402_300_800, 0, None),
        (0, -1, None),
        (0, 1_000_000_000, None),
    ],
)
def test_timestamp_bounds(seconds: int, nanos: int, expected: datetime | None) -> None:
    message = historical()
    message.start_time.seconds = seconds
    message.start_time.nanos = nanos
    if expected is not None:
        assert request_timestamp(message, "start_time") == expected
        return
    with pytest.raises(InvalidTimeRangeError) as err:
        request_timestamp(message, "start_time")
    assert str(err.value) == "start_time: not a valid timestamp"
    assert err.value.details == {"field": "start_time"}
