"""Client errors (bad input, not found, not served) as the gRPC status they are, without a trace.

pyarrow's Flight server (26) has error classes only for Flight's own statuses (failed = UNKNOWN,
unauthenticated, unauthorized, unavailable, internal, timed out, cancelled). It sends
INVALID_ARGUMENT only for a raised `ValueError`, NOT_FOUND for a `KeyError` and UNIMPLEMENTED for
a `NotImplementedError`: Arrow C++ turns the exception into a status with that code, the
exception's `str()` as message and a `PythonErrorDetail`, whose text —
`"Python exception: " + "".join(traceback.format_exception(type, value, tb))` — is appended to the
gRPC status message (`<message>. Detail: <text>`) and sent as the `x-arrow-status-detail-bin`
trailer (apache/arrow#34251). Arrow looks `traceback.format_exception` up when it formats.

So the refusals here are those exception types, and `traceback.format_exception` formats a
refusal as its one-line JSON `{"code", "message", "details"}` (`TimeBaseError.to_dict()` shape)
instead of a traceback: the hook below, installed once when this module is imported, changes
nothing for any other exception. What a client receives (docs/flight.md#errors):

- gRPC status: INVALID_ARGUMENT / NOT_FOUND / UNIMPLEMENTED, message
  `<message>. Detail: Python exception: {"code": …, "message": …, "details": {…}}`;
- trailers `x-arrow-status` (Arrow's code: 4 Invalid, 2 KeyError, 10 NotImplemented),
  `x-arrow-status-message-bin` (`<message>`), `x-arrow-status-detail-bin`
  (`Python exception: {…}`);
- pyarrow's client: `ArrowInvalid` / `ArrowKeyError` / `ArrowNotImplementedError` whose text
  is the status message (`timebase.client.errors.flight_error_info` reads the JSON back).
"""

from __future__ import annotations

import json
import traceback
from typing import Any

#: What Arrow C++ puts before the formatted exception: the JSON follows it on the wire.
WIRE_PREFIX = "Python exception: "


class FlightRefusal(Exception):
    """A client error for pyarrow to send with its gRPC code, formatted as `wire` JSON."""

    def __init__(self, message: str, wire: str) -> None:
        super().__init__(message)
        self.message = message
        self.wire = wire

    def __str__(self) -> str:  # KeyError's own str() would quote the message
        return self.message


class InvalidArgument(FlightRefusal, ValueError):
    """Sent as INVALID_ARGUMENT (Arrow `Invalid`)."""


class NotFound(FlightRefusal, KeyError):
    """Sent as NOT_FOUND (Arrow `KeyError`)."""


class Unimplemented(FlightRefusal, NotImplementedError):
    """Sent as UNIMPLEMENTED (Arrow `NotImplemented`)."""


def wire_json(code: str, message: str, details: dict[str, Any]) -> str:
    """The one-line JSON a client reads the error back from."""
    payload = {"code": code, "message": message, "details": details}
    return json.dumps(payload, default=str, separators=(",", ":"))


_format_exception = traceback.format_exception


def _format_refusals_plainly(exc: Any, /, *args: Any, **kwargs: Any) -> list[str]:
    """`traceback.format_exception`, except that a refusal is its JSON (no frames, no files)."""
    value = args[0] if args else kwargs.get("value", exc)
    if isinstance(value, FlightRefusal):
        return [value.wire]
    return _format_exception(exc, *args, **kwargs)


if getattr(traceback.format_exception, "__name__", "") != _format_refusals_plainly.__name__:
    traceback.format_exception = _format_refusals_plainly
