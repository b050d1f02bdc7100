"""TimeBase errors as Flight errors: the one place the Flight door maps them.

pyarrow.flight has no INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED error classes, and any
other Python exception reaches the client with the server's traceback. So every error leaves as a
`FlightError` subclass with the plain message and, in `extra_info`, the JSON
`{"code": "...", "message": "...", "details": {...}}` of `TimeBaseError.to_dict()`:

| TimeBase error                                     | Flight error               | gRPC status  |
|----------------------------------------------------|----------------------------|--------------|
| bad input (INVALID_*), not found (*_NOT_FOUND)     | FlightServerError          | UNKNOWN      |
| provider/database unavailable, rate limited        | FlightUnavailableError     | UNAVAILABLE  |
| TimeBase shutting down                             | FlightUnavailableError     | UNAVAILABLE  |
| anything unexpected (logged with its traceback)    | FlightInternalError        | INTERNAL     |

Clients branch on `extra_info`'s `code` (the Python client does: `timebase.client` raises
InvalidRequest, NotFound, Unavailable, RateLimited).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pyarrow import flight

from timebase.sdk.errors import (
    DatabaseError,
    InvalidRequestError,
    ProviderNotFound,
    ProviderUnavailable,
    RateLimited,
    SymbolNotFound,
    TimeBaseError,
)
from timebase.sdk.logs import correlation_id

_log = logging.getLogger(__name__)


def _info(code: str, message: str, details: dict[str, Any]) -> bytes:
    payload = {"code": code, "message": message, "details": details}
    return json.dumps(payload, default=str, separators=(",", ":")).encode()


def to_flight_error(exc: BaseException, doing: str) -> flight.FlightError:
    """The Flight error to raise for `exc` (raised while `doing` something)."""
    if isinstance(exc, flight.FlightError):
        return exc
    if isinstance(exc, TimeBaseError):
        details = dict(exc.details)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            details["retry_after"] = exc.retry_after
        info = _info(exc.code, exc.message, details)
        if isinstance(exc, (ProviderUnavailable, DatabaseError, RateLimited)):
            return flight.FlightUnavailableError(exc.message, info)
        if isinstance(exc, (InvalidRequestError, ProviderNotFound, SymbolNotFound)):
            return flight.FlightServerError(exc.message, info)
        return flight.FlightServerError(exc.message, info)
    cid = correlation_id()
    _log.error("Flight %s failed", doing, exc_info=exc)
    message = f"internal error while {doing}; see the TimeBase log (correlation id {cid})"
    return flight.FlightInternalError(message, _info("INTERNAL_ERROR", message, {}))


def shutting_down() -> flight.FlightUnavailableError:
    message = "TimeBase is shutting down; try again when it is back"
    return flight.FlightUnavailableError(message, _info("UNAVAILABLE", message, {}))
