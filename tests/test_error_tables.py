"""Each door maps an error's kind to its status in one table and passes the code unchanged."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from pyarrow import flight

from timebase.flight.errors import FLIGHT_ERROR, to_flight_error
from timebase.flight.refusal import FlightRefusal
from timebase.grpc.errors import rpc_error
from timebase.rest.errors import HTTP_STATUS, PUBLIC_ERRORS, http_error
from timebase.sdk.errors import DatabaseError, ErrorKind, RateLimited, TimeBaseError
from timebase.sdk.status import GRPC_STATUS, retry_after_from_metadata


def _sent(error: BaseException) -> dict[str, Any]:
    """The JSON a Flight client receives for `error` (status detail or `extra_info`)."""
    if isinstance(error, FlightRefusal):
        return dict(json.loads(error.wire))
    return dict(json.loads(error.extra_info))  # type: ignore[attr-defined]


def test_every_kind_has_a_status_on_every_door() -> None:
    assert set(GRPC_STATUS) == set(FLIGHT_ERROR) == set(HTTP_STATUS) == set(ErrorKind)


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda c: c.code)
def test_codes_pass_through_every_door(cls: type[TimeBaseError]) -> None:
    exc = cls("what went wrong")
    rest = http_error(exc, "rid")
    assert (rest.code, rest.message) == (cls.code, "what went wrong")
    flight_error = to_flight_error(exc, "testing")
    assert isinstance(flight_error, FLIGHT_ERROR[cls.kind])
    assert _sent(flight_error)["code"] == cls.code
    assert rpc_error(exc).code is GRPC_STATUS[cls.kind]


def test_provider_rate_limit_is_the_same_on_every_door() -> None:
    exc = RateLimited("every provider is out of quota", retry_after=2.5)
    rest = http_error(exc, "rid")
    assert (rest.status, rest.code, rest.headers["Retry-After"]) == (
        429,
        "PROVIDER_RATE_LIMITED",
        "3",
    )
    info = _sent(to_flight_error(exc, "testing"))
    assert (info["code"], info["details"]["retry_after"]) == ("PROVIDER_RATE_LIMITED", 2.5)
    assert isinstance(to_flight_error(exc, "testing"), flight.FlightUnavailableError)
    assert rpc_error(exc).code is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_database_coming_back_says_when_to_retry_on_every_door() -> None:
    exc = DatabaseError("the embedded PostgreSQL is being restarted", retry_after=3.5)
    rest = http_error(exc, "rid")
    assert (rest.status, rest.code, rest.headers["Retry-After"]) == (503, "DATABASE_ERROR", "4")
    assert rest.details["retryAfterSeconds"] == 4
    flight_error = to_flight_error(exc, "testing")
    assert isinstance(flight_error, flight.FlightUnavailableError)
    info = _sent(flight_error)
    assert (info["code"], info["details"]["retry_after"]) == ("DATABASE_ERROR", 3.5)
    error = rpc_error(exc)
    assert error.code is grpc.StatusCode.UNAVAILABLE
    assert retry_after_from_metadata(error.trailing_metadata) == 3.5
    # Without a known time to retry: a plain 503, no header.
    plain = http_error(DatabaseError("relation does not exist"), "rid")
    assert (plain.status, plain.headers) == (503, {})
    assert retry_after_from_metadata(rpc_error(DatabaseError("x")).trailing_metadata) is None
