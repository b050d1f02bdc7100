"""The JSON envelope of every REST response.

Success::

    {"success": true, "data": {...}, "meta": {"requestId", "timestamp", "processingTimeMs"}}

Error::

    {"success": false, "error": {"code", "message", "details"}, "meta": {...}}

`meta.timestamp` is the instant the response was built (RFC 3339, UTC, `Z`), `requestId` the
request's `X-Request-ID` (the correlation id of its log lines).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

#: The request's `perf_counter()` at arrival.
STARTED_KEY = web.RequestKey("timebase_started", float)
#: The request's id (its `X-Request-ID`).
REQUEST_ID_KEY = web.RequestKey("timebase_request_id", str)

_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """JSON bytes (orjson): datetimes as RFC 3339 with `Z` for UTC."""
    return orjson.dumps(value, default=_default, option=_JSON_OPTIONS)


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def meta(request_id: str, started: float | None) -> dict[str, Any]:
    elapsed = 0.0 if started is None else (time.perf_counter() - started) * 1000
    return {
        "requestId": request_id,
        "timestamp": now_rfc3339(),
        "processingTimeMs": round(elapsed, 3),
    }


def success_body(data: Any, request_id: str, started: float | None) -> bytes:
    return dumps({"success": True, "data": data, "meta": meta(request_id, started)})


def error_body(
    code: str, message: str, details: dict[str, Any], request_id: str, started: float | None
) -> bytes:
    return dumps(
        {
            "success": False,
            "error": {"code": code, "message": message, "details": details},
            "meta": meta(request_id, started),
        }
    )
