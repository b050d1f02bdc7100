"""The errors `timebase.client` raises: each carries the server's message and its stable code."""

from __future__ import annotations

import json
import re
from typing import Any

import grpc
from pyarrow import flight

from timebase.sdk.errors import ErrorKind, TimeBaseError
from timebase.sdk.status import error_info_from_metadata


class TimeBaseClientError(Exception):
    """Root of the client's errors: `message` (the server's), `code` (e.g. INVALID_INTERVAL)."""

    def __init__(
        self, message: str, code: str = "ERROR", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, Any] = details or {}


class InvalidRequest(TimeBaseClientError):
    """The request was malformed (bad symbol, interval or range, a rejected batch, …)."""


class NotFound(TimeBaseClientError):
    """The symbol or provider is unknown."""


class Unauthenticated(TimeBaseClientError):
    """The API key is missing, wrong or revoked (`TimeBase(api_key=...)`, TIMEBASE_API_KEY)."""


class PermissionDenied(TimeBaseClientError):
    """The API key lacks the scope the action needs (`details["required_scope"]`)."""


class Unavailable(TimeBaseClientError):
    """TimeBase, its database or every provider able to answer is unreachable, or TimeBase is
    busy (SERVER_BUSY, DATABASE_BUSY); `retry_after` seconds (when the server said)."""

    @property
    def retry_after(self) -> float | None:
        value = self.details.get("retry_after")
        return float(value) if isinstance(value, int | float) else None


class RateLimited(Unavailable):
    """Every provider able to answer is out of quota; `retry_after` seconds (when known)."""


#: The client error of each kind of server error (`timebase.sdk.errors.ErrorKind`).
_KIND_ERRORS: dict[ErrorKind, type[TimeBaseClientError]] = {
    ErrorKind.INVALID: InvalidRequest,
    ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.UNAUTHENTICATED: Unauthenticated,
    ErrorKind.PERMISSION: PermissionDenied,
    ErrorKind.RATE_LIMITED: RateLimited,
    ErrorKind.UNAVAILABLE: Unavailable,
}


def _code_kinds() -> dict[str, ErrorKind]:
    """The kind of every public error code: the SDK's error tree (`timebase.sdk.errors` only:
    what else is imported must not change the answer), walked once."""
    kinds: dict[str, ErrorKind] = {"UNAVAILABLE": ErrorKind.UNAVAILABLE}  # TimeBase stopping
    pending: list[type[TimeBaseError]] = [TimeBaseError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == TimeBaseError.__module__:
            kinds.setdefault(cls.code, cls.kind)
            pending.extend(cls.__subclasses__())
    return kinds


_CODE_KINDS = _code_kinds()


def error_for_code(
    code: str, message: str, details: dict[str, Any] | None = None
) -> TimeBaseClientError:
    """The client error of a TimeBase error `code`: by the code's kind in the SDK's error tree;
    a code this client does not know (a newer server) by its name."""
    kind = _CODE_KINDS.get(code)
    if kind is not None:
        return _KIND_ERRORS.get(kind, TimeBaseClientError)(message, code, details)
    cls: type[TimeBaseClientError] = TimeBaseClientError
    if code.endswith("RATE_LIMITED"):
        cls = RateLimited
    elif code.endswith("NOT_FOUND"):
        cls = NotFound
    elif code.startswith("INVALID_"):
        cls = InvalidRequest
    elif code.endswith(("UNAVAILABLE", "_BUSY")):
        cls = Unavailable
    return cls(message, code, details)


#: How gRPC (BoringSSL) and Flight (OpenSSL) report a server certificate the client rejects.
_UNTRUSTED = re.compile(
    r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|not in peer certificate", re.IGNORECASE
)


def _transport_message(door: str, where: str, text: str) -> str:
    """The message of a connection that failed: a rejected server certificate said plainly."""
    if _UNTRUSTED.search(text):
        return (
            f"TLS: the certificate of TimeBase {door} at {where} is not trusted (signed by "
            "another CA, or not issued for this host name); pass the CA that signed it with "
            f"tls_ca_file (TIMEBASE_TLS_CA_FILE): {text}"
        )
    return f"cannot reach TimeBase {door} at {where}: {text}"


_DETAIL = re.compile(r"\. Detail: [A-Za-z ]+$", re.DOTALL)


#: Where a TimeBase Flight server's client errors (INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED)
#: carry their JSON: after this in the status message (`timebase.flight.refusal`).
_WIRE_PREFIX = "Python exception: "


def flight_error_info(exc: BaseException) -> dict[str, Any] | None:
    """TimeBase's `{"code", "message", "details"}` of a failed Flight call, or None.

    A `FlightError` carries it in `extra_info`; an `ArrowInvalid` / `ArrowKeyError` /
    `ArrowNotImplementedError` (gRPC INVALID_ARGUMENT / NOT_FOUND / UNIMPLEMENTED) as the JSON
    after the last `Python exception: ` of its text whose object has a `code`."""
    raw = getattr(exc, "extra_info", None)
    if raw:
        try:
            info = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            info = None
        return info if isinstance(info, dict) and isinstance(info.get("code"), str) else None
    if isinstance(exc, flight.FlightError):
        return None
    text = str(exc)
    decoder = json.JSONDecoder()
    at = text.rfind(_WIRE_PREFIX)
    while at >= 0:
        try:
            found, _ = decoder.raw_decode(text, at + len(_WIRE_PREFIX))
        except json.JSONDecodeError:
            found = None
        if isinstance(found, dict) and isinstance(found.get("code"), str):
            return found
        at = text.rfind(_WIRE_PREFIX, 0, at)
    return None


def from_flight(exc: flight.FlightError | Exception, where: str) -> TimeBaseClientError:
    """A client error for an error of a Flight call to `where` (host:port)."""
    info = flight_error_info(exc)
    if info is not None:
        details = info.get("details")
        return error_for_code(
            info["code"],
            str(info.get("message", exc)),
            details if isinstance(details, dict) else None,
        )
    text = _DETAIL.sub("", str(exc).strip()).splitlines()[0] if str(exc).strip() else repr(exc)
    if isinstance(exc, flight.FlightUnavailableError):  # no TimeBase error: the transport's
        return Unavailable(_transport_message("Flight", where, text), "UNAVAILABLE")
    if isinstance(exc, flight.FlightTimedOutError):
        return Unavailable(f"TimeBase Flight at {where} timed out: {text}", "DEADLINE_EXCEEDED")
    return TimeBaseClientError(text, "ERROR")


_GRPC_CODES: dict[grpc.StatusCode, type[TimeBaseClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def from_grpc(exc: grpc.RpcError, where: str) -> TimeBaseClientError:
    """A client error for a failed gRPC call to `where` (host:port)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else None
    message = details or str(code)
    cls = _GRPC_CODES.get(code, TimeBaseClientError)
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    if code == grpc.StatusCode.UNAVAILABLE and error_info_from_metadata(trailing) is None:
        # Not an error TimeBase answered (those carry an ErrorInfo): the connection failed.
        message = _transport_message("gRPC", where, message)
    return cls(message, code.name)
