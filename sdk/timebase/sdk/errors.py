"""The TimeBase error model: one tree for providers, the gateway core and every door.

Every error TimeBase raises on purpose is a `TimeBaseError` with

- `code`: a stable upper-case identifier clients can branch on; the public codes are the ones
  documented in docs/rest.md, and every door passes them through unchanged;
- `kind`: an `ErrorKind`, what each door maps to its own status in one table
  (gRPC status, Flight error class, HTTP status);
- `message`: a human message naming what was wrong; `details`: optional structured context.

Nothing below a door knows about status codes, and nothing matches on message text.

Exception tree (code, kind)::

    TimeBaseError                     INTERNAL_ERROR               internal
    ├── ConfigError                   CONFIG_ERROR                 invalid
    │   └── ProviderAlreadyInstalled  PROVIDER_ALREADY_INSTALLED   conflict
    ├── InvalidRequestError           INVALID_REQUEST              invalid
    │   ├── InvalidIntervalError      INVALID_INTERVAL             invalid
    │   ├── InvalidTimeRangeError     INVALID_TIME_RANGE           invalid
    │   ├── InvalidDataError          INVALID_DATA                 invalid
    │   └── ProviderCapabilityMissing PROVIDER_CAPABILITY_MISSING  invalid
    ├── MethodNotAllowed              METHOD_NOT_ALLOWED           invalid
    ├── HostNotAllowed                HOST_NOT_ALLOWED             invalid
    ├── UnsupportedMediaType          UNSUPPORTED_MEDIA_TYPE       invalid
    ├── OriginNotAllowed              ORIGIN_NOT_ALLOWED           permission
    ├── ProviderNotFound              PROVIDER_NOT_FOUND           not_found
    ├── SymbolNotFound                SYMBOL_NOT_FOUND             not_found
    ├── DataUnavailable               DATA_UNAVAILABLE             not_found
    ├── RouteNotFound                 ROUTE_NOT_FOUND              not_found
    ├── RateLimited                   PROVIDER_RATE_LIMITED        rate_limited
    │   └── ClientRateLimited         RATE_LIMITED                 rate_limited
    ├── ProviderUnavailable           PROVIDER_UNAVAILABLE         unavailable
    │   └── AllProvidersFailed        PROVIDER_UNAVAILABLE         unavailable
    ├── DatabaseError                 DATABASE_ERROR               unavailable
    │   ├── EmbeddedDatabaseError     EMBEDDED_DATABASE_ERROR      unavailable
    │   └── DatabaseBusy              DATABASE_BUSY                unavailable
    ├── ServerBusy                    SERVER_BUSY                  unavailable
    ├── NotImplementedByServer        NOT_IMPLEMENTED              unimplemented
    ├── ServerStartError              SERVER_START_ERROR           internal
    └── ProviderError                 PROVIDER_ERROR               internal
        ├── AuthFailed                AUTH_FAILED                  unauthenticated
        ├── UpstreamUnavailable       UPSTREAM_UNAVAILABLE         unavailable
        ├── InvalidArgument           INVALID_ARGUMENT             invalid
        └── NotSupported              NOT_SUPPORTED                unimplemented

A provider raises `SymbolNotFound`, `RateLimited` or a `ProviderError` from its code; the SDK's
server turns it into the gRPC status the gateway understands (`timebase.sdk.status`), and the
gateway's provider client turns that status back into a kind. `transient` says whether retrying
the same request later may succeed (`timebase.sdk.retry`).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar


class ErrorKind(enum.StrEnum):
    """What went wrong, in the terms every door maps to its own status."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION = "permission"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"


class TimeBaseError(Exception):
    """Root of all TimeBase errors."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    #: Whether retrying the same request later may succeed.
    transient: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape every door uses: `{"code", "message", "details"}`."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# -- bad input ---------------------------------------------------------------------------------


class ConfigError(TimeBaseError):
    """A configuration file, environment variable or manifest is invalid."""

    code = "CONFIG_ERROR"
    kind = ErrorKind.INVALID


class ProviderAlreadyInstalled(ConfigError):
    """An install names a provider that is already supervised."""

    code = "PROVIDER_ALREADY_INSTALLED"
    kind = ErrorKind.CONFLICT


class InvalidRequestError(TimeBaseError):
    """The caller sent something malformed."""

    code = "INVALID_REQUEST"
    kind = ErrorKind.INVALID


class InvalidIntervalError(InvalidRequestError):
    code = "INVALID_INTERVAL"


class InvalidTimeRangeError(InvalidRequestError):
    code = "INVALID_TIME_RANGE"


class InvalidDataError(InvalidRequestError):
    """A batch of bars failed validation; `details` name the first bad row and column."""

    code = "INVALID_DATA"


class ProviderCapabilityMissing(InvalidRequestError):
    """A provider-aware request asks a provider for something its manifest does not offer."""

    code = "PROVIDER_CAPABILITY_MISSING"


class MethodNotAllowed(TimeBaseError):
    """The route exists but not for this HTTP method."""

    code = "METHOD_NOT_ALLOWED"
    kind = ErrorKind.INVALID


class HostNotAllowed(TimeBaseError):
    """The request's Host header is not one the REST door serves (DNS rebinding protection)."""

    code = "HOST_NOT_ALLOWED"
    kind = ErrorKind.INVALID


class UnsupportedMediaType(TimeBaseError):
    """A request body that is not `application/json` (REST answers 415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    kind = ErrorKind.INVALID


class OriginNotAllowed(TimeBaseError):
    """A browser request from a foreign Origin to a state-changing route or the WebSocket."""

    code = "ORIGIN_NOT_ALLOWED"
    kind = ErrorKind.PERMISSION


# -- not found ---------------------------------------------------------------------------------


class ProviderNotFound(TimeBaseError):
    """A provider-aware request names a provider that is neither running nor has stored bars."""

    code = "PROVIDER_NOT_FOUND"
    kind = ErrorKind.NOT_FOUND


class SymbolNotFound(TimeBaseError):
    """The symbol is unknown: raised by a provider whose upstream does not know it, and by the
    gateway when every provider asked said so."""

    code = "SYMBOL_NOT_FOUND"
    kind = ErrorKind.NOT_FOUND


class DataUnavailable(TimeBaseError):
    """A request was valid and served, but no bars exist for it."""

    code = "DATA_UNAVAILABLE"
    kind = ErrorKind.NOT_FOUND


class CalendarNotFound(TimeBaseError):
    """A trading calendar name that neither the built-ins nor exchange_calendars know."""

    code = "CALENDAR_NOT_FOUND"
    kind = ErrorKind.NOT_FOUND


class RouteNotFound(TimeBaseError):
    """No route answers this path."""

    code = "ROUTE_NOT_FOUND"
    kind = ErrorKind.NOT_FOUND


# -- who is asking ------------------------------------------------------------------------------


class Unauthenticated(TimeBaseError):
    """No API key, or one TimeBase does not know (auth on)."""

    code = "UNAUTHENTICATED"
    kind = ErrorKind.UNAUTHENTICATED


class PermissionDenied(TimeBaseError):
    """A known key without the scope an action needs; the message names the scope."""

    code = "PERMISSION_DENIED"
    kind = ErrorKind.PERMISSION


# -- rate limits -------------------------------------------------------------------------------


class RateLimited(TimeBaseError):
    """Out of quota; `retry_after` seconds is when to try again (None: unknown).

    Raised by a provider whose upstream refused for quota reasons, and by the gateway when every
    provider that could answer is out of quota."""

    code = "PROVIDER_RATE_LIMITED"
    kind = ErrorKind.RATE_LIMITED
    transient = True

    def __init__(
        self,
        message: str = "rate limited by upstream",
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ClientRateLimited(RateLimited):
    """A client sent more requests than its rate limit allows."""

    code = "RATE_LIMITED"


# -- unavailable -------------------------------------------------------------------------------


class ProviderUnavailable(TimeBaseError):
    """No provider could answer (down, failing, circuit open, …); the message names each one."""

    code = "PROVIDER_UNAVAILABLE"
    kind = ErrorKind.UNAVAILABLE


class AllProvidersFailed(ProviderUnavailable):
    """Every candidate provider failed; `details["errors"]` maps each slug to its error."""


class DatabaseError(TimeBaseError):
    """The database could not be reached or refused an operation.

    `retry_after` seconds is when to try again when the database is known to be coming back (its
    connection was lost, the embedded server is restarting); None otherwise. The doors send it:
    REST as `Retry-After`, gRPC as a RetryInfo detail, Flight in `extra_info`'s details."""

    code = "DATABASE_ERROR"
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class EmbeddedDatabaseError(DatabaseError):
    """The embedded PostgreSQL could not be started or stopped."""

    code = "EMBEDDED_DATABASE_ERROR"


class DatabaseBusy(DatabaseError):
    """No database connection became free in time; try again after `retry_after` seconds."""

    code = "DATABASE_BUSY"
    transient = True

    def __init__(self, message: str, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ServerBusy(TimeBaseError):
    """Too many provider fetches at once (overall or for this client) for longer than the queue
    timeout; try again after `retry_after` seconds."""

    code = "SERVER_BUSY"
    kind = ErrorKind.UNAVAILABLE
    transient = True

    def __init__(self, message: str, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


# -- the server itself -------------------------------------------------------------------------


class NotImplementedByServer(TimeBaseError):
    """The server was built without this feature, e.g. the admin API without a supervisor."""

    code = "NOT_IMPLEMENTED"
    kind = ErrorKind.UNIMPLEMENTED


class ServerStartError(TimeBaseError):
    """A server could not start (e.g. its port is already in use)."""

    code = "SERVER_START_ERROR"


# -- raised by providers -----------------------------------------------------------------------


class ProviderError(TimeBaseError):
    """Base of the upstream errors a provider raises on purpose (besides `SymbolNotFound` and
    `RateLimited`, which the gateway raises too)."""

    code = "PROVIDER_ERROR"


class AuthFailed(ProviderError):
    """The upstream rejected the provider's credentials."""

    code = "AUTH_FAILED"
    kind = ErrorKind.UNAUTHENTICATED


class UpstreamUnavailable(ProviderError):
    """The upstream is down, timed out or answered garbage: try again later."""

    code = "UPSTREAM_UNAVAILABLE"
    kind = ErrorKind.UNAVAILABLE
    transient = True


class InvalidArgument(ProviderError):
    """The request is malformed (raised by the SDK's checks, or by an author for its own)."""

    code = "INVALID_ARGUMENT"
    kind = ErrorKind.INVALID


class NotSupported(ProviderError):
    """The provider does not offer this operation (e.g. real-time streaming)."""

    code = "NOT_SUPPORTED"
    kind = ErrorKind.UNIMPLEMENTED
