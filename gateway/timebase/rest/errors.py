"""The REST error boundary: the ONE place where errors become HTTP statuses and envelopes.

A `TimeBaseError` leaves with its own `code`, unchanged (the public codes, the same on every
door), and the HTTP status of its `kind` (`HTTP_STATUS`); its message is deliberate and goes to
the client. Anything else is logged with its traceback and answered 500 INTERNAL_ERROR with the
request id only — never a stack trace or an HTML page.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from timebase.sdk.errors import (
    CalendarNotFound,
    ClientRateLimited,
    DatabaseBusy,
    DatabaseError,
    DataUnavailable,
    ErrorKind,
    HostNotAllowed,
    InvalidIntervalError,
    InvalidRequestError,
    InvalidTimeRangeError,
    MethodNotAllowed,
    NotImplementedByServer,
    OriginNotAllowed,
    PermissionDenied,
    ProviderAlreadyInstalled,
    ProviderCapabilityMissing,
    ProviderNotFound,
    ProviderUnavailable,
    RateLimited,
    RouteNotFound,
    ServerBusy,
    SymbolNotFound,
    TimeBaseError,
    Unauthenticated,
    UnsupportedMediaType,
)

_log = logging.getLogger("timebase.rest")

#: The HTTP status of each kind of error: the one table of the REST door.
HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.PERMISSION: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
    ErrorKind.UNIMPLEMENTED: 501,
    ErrorKind.UNAVAILABLE: 503,
}
#: HTTP's refinements of a kind (REST only): a route that exists but not for the method, and a
#: body that is not JSON.
_REFINED_STATUS: tuple[tuple[type[TimeBaseError], int], ...] = (
    (MethodNotAllowed, 405),
    (UnsupportedMediaType, 415),
)

#: The errors the REST door answers with (its documented codes: docs/rest.md, OpenAPI).
PUBLIC_ERRORS: tuple[type[TimeBaseError], ...] = (
    InvalidRequestError,
    InvalidIntervalError,
    InvalidTimeRangeError,
    ProviderCapabilityMissing,
    ProviderNotFound,
    SymbolNotFound,
    DataUnavailable,
    CalendarNotFound,
    RouteNotFound,
    MethodNotAllowed,
    ProviderAlreadyInstalled,
    Unauthenticated,
    PermissionDenied,
    ClientRateLimited,
    RateLimited,
    NotImplementedByServer,
    ProviderUnavailable,
    DatabaseError,
    DatabaseBusy,
    ServerBusy,
)
#: The request checks' errors (`timebase.rest.guard`): Host, Origin, Content-Type.
GUARD_ERRORS: tuple[type[TimeBaseError], ...] = (
    HostNotAllowed,
    OriginNotAllowed,
    UnsupportedMediaType,
)


def http_status(exc: TimeBaseError | type[TimeBaseError]) -> int:
    """The HTTP status of an error (instance or class)."""
    cls = exc if isinstance(exc, type) else type(exc)
    for refined, status in _REFINED_STATUS:
        if issubclass(cls, refined):
            return status
    return HTTP_STATUS[cls.kind]


#: Every error code the REST door answers with, and its HTTP status (documented in OpenAPI).
ERROR_CODES: dict[str, int] = {
    **{cls.code: http_status(cls) for cls in PUBLIC_ERRORS},
    **{cls.code: http_status(cls) for cls in GUARD_ERRORS},
    "INTERNAL_ERROR": 500,
}


@dataclass(frozen=True)
class HttpError:
    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def http_error(exc: BaseException, request_id: str) -> HttpError:
    """The HTTP answer to `exc` (see the module docstring)."""
    if not isinstance(exc, TimeBaseError):
        return HttpError(500, "INTERNAL_ERROR", f"internal error (request id {request_id})")
    code, status = exc.code, http_status(exc)
    headers: dict[str, str] = {}
    details = _jsonable(exc.details)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, MethodNotAllowed):
        # RFC 9110: a 405 lists the methods the resource supports.
        headers["Allow"] = ", ".join(str(m) for m in exc.details.get("allowed", ()))
    # 429 always says when to retry; a 503 when it is known (e.g. the database is restarting).
    if status == 429 or (status == 503 and retry_after is not None):
        seconds = 60.0 if retry_after is None else max(0.0, float(retry_after))
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))
        details.setdefault("retryAfterSeconds", max(1, math.ceil(seconds)))
    if status == 401:  # RFC 6750: how to authenticate
        headers["WWW-Authenticate"] = 'Bearer realm="TimeBase"'
    return HttpError(status, code, exc.message, details, headers)


def log_error(exc: BaseException, what: str) -> None:
    """Log `exc` as it deserves: expected client errors quietly, the unexpected loudly."""
    if isinstance(exc, TimeBaseError):
        level = logging.INFO if http_status(exc) < 500 else logging.WARNING
        _log.log(level, "%s failed: %s", what, exc.message, extra={"code": exc.code})
    else:
        _log.error("%s failed with an unexpected error", what, exc_info=exc)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _jsonable({str(k): v for k, v in value.items()})
        elif isinstance(value, list | tuple | set | frozenset):
            out[key] = [v if isinstance(v, str | int | float | bool) else str(v) for v in value]
        else:
            out[key] = str(value)
    return out
