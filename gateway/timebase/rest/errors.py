"""The REST error boundary: the ONE place where errors become HTTP statuses and envelopes.

`TimeBaseError`s map to a REST code and status by class (their messages are deliberate and go
to the client); anything else is logged with its traceback and answered 500 INTERNAL_ERROR with
the request id only — never a stack trace or an HTML page.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from timebase.sdk.errors import (
    ClientRateLimited,
    DatabaseError,
    DataUnavailable,
    InvalidDataError,
    InvalidIntervalError,
    InvalidRequestError,
    InvalidTimeRangeError,
    MethodNotAllowed,
    NotImplementedByServer,
    ProviderAlreadyInstalled,
    ProviderCapabilityMissing,
    ProviderNotFound,
    ProviderUnavailable,
    RateLimited,
    RouteNotFound,
    SymbolNotFound,
    TimeBaseError,
)

_log = logging.getLogger("timebase.rest")

#: (error class, REST code, HTTP status); the first matching class wins (subclasses first).
ERROR_MAP: Sequence[tuple[type[TimeBaseError], str, int]] = (
    (InvalidIntervalError, "INVALID_INTERVAL", 400),
    (InvalidTimeRangeError, "INVALID_TIME_RANGE", 400),
    (ProviderCapabilityMissing, "PROVIDER_CAPABILITY_MISSING", 400),
    (InvalidDataError, "INVALID_REQUEST", 400),
    (InvalidRequestError, "INVALID_REQUEST", 400),
    (ProviderNotFound, "PROVIDER_NOT_FOUND", 404),
    (SymbolNotFound, "SYMBOL_NOT_FOUND", 404),
    (DataUnavailable, "DATA_UNAVAILABLE", 404),
    (RouteNotFound, "ROUTE_NOT_FOUND", 404),
    (MethodNotAllowed, "METHOD_NOT_ALLOWED", 405),
    (ProviderAlreadyInstalled, "PROVIDER_ALREADY_INSTALLED", 409),
    (ClientRateLimited, "RATE_LIMITED", 429),
    (RateLimited, "PROVIDER_RATE_LIMITED", 429),
    (ProviderUnavailable, "PROVIDER_UNAVAILABLE", 503),
    (DatabaseError, "DATABASE_ERROR", 503),
    (NotImplementedByServer, "NOT_IMPLEMENTED", 501),
)

#: Every error code the REST door answers with, and its HTTP status (documented in OpenAPI).
ERROR_CODES: dict[str, int] = {
    **{code: status for _, code, status in ERROR_MAP},
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
    code, status = _classify(exc)
    headers: dict[str, str] = {}
    details = _jsonable(exc.details)
    retry_after = getattr(exc, "retry_after", None)
    if status == 429:
        seconds = 60.0 if retry_after is None else max(0.0, float(retry_after))
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))
        details.setdefault("retryAfterSeconds", max(1, math.ceil(seconds)))
    return HttpError(status, code, exc.message, details, headers)


def _classify(exc: TimeBaseError) -> tuple[str, int]:
    # The core raises plain InvalidRequestErrors naming a provider when a provider-aware query
    # asks for an interval or symbol outside the provider's manifest: a capability problem.
    if (
        type(exc) is InvalidRequestError
        and exc.details.get("field") == "provider"
        and "provider" in exc.details
    ):
        return "PROVIDER_CAPABILITY_MISSING", 400
    for cls, code, status in ERROR_MAP:
        if isinstance(exc, cls):
            return code, status
    return "INTERNAL_ERROR", 500


def log_error(exc: BaseException, what: str) -> None:
    """Log `exc` as it deserves: expected client errors quietly, the unexpected loudly."""
    if isinstance(exc, TimeBaseError):
        _, status = _classify(exc)
        level = logging.INFO if status < 500 else logging.WARNING
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
