"""TimeBase errors as Flight errors: the one place the Flight door maps them.

pyarrow.flight has no INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED error classes. A Python
server gets those statuses only by raising `ValueError`/`ArrowInvalid`, `KeyError` or
`NotImplementedError`, and pyarrow (26) then appends `. Detail: Python exception: Traceback …`
(the server's files and source lines) to the status message, unconditionally (apache/arrow#34251).
So every error leaves as one of pyarrow's `FlightError` classes, which travel without it, with
the plain message and, in `extra_info`, the JSON
`{"code": "...", "message": "...", "details": {...}}` of `TimeBaseError.to_dict()`:

| kind of error (`ErrorKind`)                          | Flight error                | gRPC status     |
|------------------------------------------------------|-----------------------------|-----------------|
| invalid, not_found, conflict, unimplemented          | FlightServerError           | UNKNOWN         |
| unauthenticated                                      | FlightUnauthenticatedError  | UNAUTHENTICATED |
| permission                                           | FlightUnauthorizedError     | PERMISSION_DENIED |
| rate_limited, unavailable; TimeBase shutting down    | FlightUnavailableError      | UNAVAILABLE     |
| internal; anything unexpected (logged, traceback)    | FlightInternalError         | INTERNAL        |

An error that says when to try again (rate limited, SERVER_BUSY, DATABASE_BUSY) carries
`retry_after` (seconds) in `details`. A call the client cancelled ends with
FlightCancelledError (CANCELLED, `timebase.flight.bridge`).

The `code` is the error's own, unchanged: the public codes of docs/rest.md, on every door.
Clients branch on `extra_info`'s `code` (the Python client does: `timebase.client` raises
InvalidRequest, NotFound, Unauthenticated, PermissionDenied, Unavailable, RateLimited by the
code's kind).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pyarrow import flight

from timebase.sdk.errors import ErrorKind, TimeBaseError
from timebase.sdk.logs import correlation_id

_log = logging.getLogger(__name__)


#: The Flight error class of each kind of error: the one table of the Flight door.
FLIGHT_ERROR: dict[ErrorKind, type[flight.FlightError]] = {
    ErrorKind.INVALID: flight.FlightServerError,
    ErrorKind.NOT_FOUND: flight.FlightServerError,
    ErrorKind.CONFLICT: flight.FlightServerError,
    ErrorKind.UNIMPLEMENTED: flight.FlightServerError,
    ErrorKind.UNAUTHENTICATED: flight.FlightUnauthenticatedError,
    ErrorKind.PERMISSION: flight.FlightUnauthorizedError,
    ErrorKind.RATE_LIMITED: flight.FlightUnavailableError,
    ErrorKind.UNAVAILABLE: flight.FlightUnavailableError,
    ErrorKind.INTERNAL: flight.FlightInternalError,
}


def _info(code: str, message: str, details: dict[str, Any]) -> bytes:
    payload = {"code": code, "message": message, "details": details}
    return json.dumps(payload, default=str, separators=(",", ":")).encode()


def to_flight_error(exc: BaseException, doing: str) -> flight.FlightError:
    """The Flight error to raise for `exc` (raised while `doing` something)."""
    if isinstance(exc, flight.FlightError):
        return exc
    if isinstance(exc, TimeBaseError):
        details = dict(exc.details)
        retry_after = getattr(exc, "retry_after", None)  # RateLimited, DatabaseError
        if isinstance(retry_after, int | float):
            details["retry_after"] = retry_after
        info = _info(exc.code, exc.message, details)
        if exc.kind is ErrorKind.INTERNAL:
            _log.error("Flight %s failed: %s", doing, exc.message, exc_info=exc)
        return FLIGHT_ERROR[exc.kind](exc.message, info)
    cid = correlation_id()
    _log.error("Flight %s failed", doing, exc_info=exc)
    message = f"internal error while {doing}; see the TimeBase log (correlation id {cid})"
    return flight.FlightInternalError(message, _info("INTERNAL_ERROR", message, {}))


def shutting_down() -> flight.FlightUnavailableError:
    message = "TimeBase is shutting down; try again when it is back"
    return flight.FlightUnavailableError(message, _info("UNAVAILABLE", message, {}))
