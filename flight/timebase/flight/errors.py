"""TimeBase errors as Flight errors: the one place the Flight door maps them.

Every error a Flight handler lets out goes through `to_flight_error`. Each leaves with the gRPC
status of its kind and TimeBase's `{"code": "...", "message": "...", "details": {...}}`
(`TimeBaseError.to_dict()`), never a server traceback:

| kind of error (`ErrorKind`)                       | raised as (pyarrow client sees)          | gRPC status       |
|---------------------------------------------------|------------------------------------------|-------------------|
| invalid                                           | `refusal.InvalidArgument` (ArrowInvalid) | INVALID_ARGUMENT  |
| not_found                                         | `refusal.NotFound` (ArrowKeyError)       | NOT_FOUND         |
| unimplemented                                     | `refusal.Unimplemented` (ArrowNotImplementedError) | UNIMPLEMENTED |
| conflict (no Flight call can cause one)           | FlightServerError                        | UNKNOWN           |
| unauthenticated                                   | FlightUnauthenticatedError               | UNAUTHENTICATED   |
| permission                                        | FlightUnauthorizedError                  | PERMISSION_DENIED |
| rate_limited, unavailable; TimeBase shutting down | FlightUnavailableError                   | UNAVAILABLE       |
| internal; anything unexpected (logged, traceback) | FlightInternalError                      | INTERNAL          |

The refusals (`timebase.flight.refusal`) carry the JSON in the status detail
(`<message>. Detail: Python exception: {json}`, trailer `x-arrow-status-detail-bin`); pyarrow's
`FlightError` classes carry it in `extra_info` (gRPC trailer `grpc-status-details-bin`).
An error that says when to try again (rate limited, SERVER_BUSY, DATABASE_BUSY) carries
`retry_after` (seconds) in `details`. A call the client cancelled ends with
FlightCancelledError (CANCELLED, `timebase.flight.bridge`).

The `code` is the error's own, unchanged: the public codes of docs/rest.md, on every door.
Clients branch on it (`timebase.client.errors.flight_error_info` reads it from either place;
`timebase.client` raises InvalidRequest, NotFound, Unauthenticated, PermissionDenied,
Unavailable, RateLimited by the code's kind).
"""

from __future__ import annotations

import logging
from typing import Any, cast

from pyarrow import flight

from timebase.flight.refusal import (
    FlightRefusal,
    InvalidArgument,
    NotFound,
    Unimplemented,
    wire_json,
)
from timebase.sdk.errors import ErrorKind, TimeBaseError
from timebase.sdk.logs import correlation_id

_log = logging.getLogger(__name__)


#: The error class of each kind of error: the one table of the Flight door.
FLIGHT_ERROR: dict[ErrorKind, type[FlightRefusal] | type[flight.FlightError]] = {
    ErrorKind.INVALID: InvalidArgument,
    ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.UNIMPLEMENTED: Unimplemented,
    ErrorKind.CONFLICT: flight.FlightServerError,
    ErrorKind.UNAUTHENTICATED: flight.FlightUnauthenticatedError,
    ErrorKind.PERMISSION: flight.FlightUnauthorizedError,
    ErrorKind.RATE_LIMITED: flight.FlightUnavailableError,
    ErrorKind.UNAVAILABLE: flight.FlightUnavailableError,
    ErrorKind.INTERNAL: flight.FlightInternalError,
}


def _info(code: str, message: str, details: dict[str, Any]) -> bytes:
    return wire_json(code, message, details).encode()


def to_flight_error(exc: BaseException, doing: str) -> flight.FlightError | FlightRefusal:
    """The Flight error to raise for `exc` (raised while `doing` something)."""
    if isinstance(exc, flight.FlightError | FlightRefusal):
        return exc
    if isinstance(exc, TimeBaseError):
        details = dict(exc.details)
        retry_after = getattr(exc, "retry_after", None)  # RateLimited, DatabaseError
        if isinstance(retry_after, int | float):
            details["retry_after"] = retry_after
        cls = FLIGHT_ERROR[exc.kind]
        if issubclass(cls, FlightRefusal):
            return cls(exc.message, wire_json(exc.code, exc.message, details))
        if exc.kind is ErrorKind.INTERNAL:
            _log.error("Flight %s failed: %s", doing, exc.message, exc_info=exc)
        return cast(type[flight.FlightError], cls)(
            exc.message, _info(exc.code, exc.message, details)
        )
    cid = correlation_id()
    _log.error("Flight %s failed", doing, exc_info=exc)
    message = f"internal error while {doing}; see the TimeBase log (correlation id {cid})"
    return flight.FlightInternalError(message, _info("INTERNAL_ERROR", message, {}))


def shutting_down() -> flight.FlightUnavailableError:
    message = "TimeBase is shutting down; try again when it is back"
    return flight.FlightUnavailableError(message, _info("UNAVAILABLE", message, {}))
