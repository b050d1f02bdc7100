"""The TimeBase error hierarchy.

Every error TimeBase raises on purpose is a `TimeBaseError` with a stable `code` (an upper-case
identifier clients can branch on), a human message naming what was wrong, and optional `details`.
Each door (gRPC, Flight, REST) maps errors to its own status in exactly one place; nothing below
that boundary knows about status codes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TimeBaseError(Exception):
    """Root of all TimeBase errors."""

    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape every door uses: `{"code", "message", "details"}`."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(TimeBaseError):
    """A configuration file, environment variable or manifest is invalid."""

    code = "CONFIG_ERROR"


class InvalidRequestError(TimeBaseError):
    """The caller sent something malformed (maps to INVALID_ARGUMENT / HTTP 400)."""

    code = "INVALID_REQUEST"


class InvalidIntervalError(InvalidRequestError):
    code = "INVALID_INTERVAL"


class InvalidTimeRangeError(InvalidRequestError):
    code = "INVALID_TIME_RANGE"


class InvalidDataError(InvalidRequestError):
    """A batch of bars failed validation; `details` name the first bad row and column."""

    code = "INVALID_DATA"


class DatabaseError(TimeBaseError):
    """The database could not be reached or refused an operation (maps to UNAVAILABLE / 503)."""

    code = "DATABASE_ERROR"


class EmbeddedDatabaseError(DatabaseError):
    """The embedded PostgreSQL could not be started or stopped."""

    code = "EMBEDDED_DATABASE_ERROR"


class ServerStartError(TimeBaseError):
    """A server could not start (e.g. its port is already in use)."""

    code = "SERVER_START_ERROR"


# -- the gateway's historical path: routing and providers --------------------------------------


class ProviderNotFound(TimeBaseError):
    """A provider-aware request names a provider that is neither running nor has stored bars."""

    code = "PROVIDER_NOT_FOUND"


class SymbolNotFound(TimeBaseError):
    """Every provider asked answered that it does not know the symbol (maps to NOT_FOUND)."""

    code = "SYMBOL_NOT_FOUND"


class ProviderUnavailable(TimeBaseError):
    """No provider could answer (down, failing, circuit open, …); the message names each one."""

    code = "PROVIDER_UNAVAILABLE"


class AllProvidersFailed(ProviderUnavailable):
    """Every candidate provider failed; `details["errors"]` maps each slug to its error."""

    code = "ALL_PROVIDERS_FAILED"


class RateLimitedError(TimeBaseError):
    """Every candidate is out of quota; `retry_after` seconds is when to try again."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


# -- the REST door ----------------------------------------------------------------------------


class ProviderCapabilityMissing(InvalidRequestError):
    """A provider-aware request asks a provider for something its manifest does not offer."""

    code = "PROVIDER_CAPABILITY_MISSING"


class DataUnavailable(TimeBaseError):
    """A request was valid and served, but no bars exist for it (REST: 404)."""

    code = "DATA_UNAVAILABLE"


class ClientRateLimited(TimeBaseError):
    """A client sent more requests than its rate limit allows; `retry_after` in seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class RouteNotFound(TimeBaseError):
    """No route answers this path (REST: 404)."""

    code = "ROUTE_NOT_FOUND"


class MethodNotAllowed(TimeBaseError):
    """The route exists but not for this HTTP method (REST: 405)."""

    code = "METHOD_NOT_ALLOWED"


# -- the admin API: providers installed and removed at run time ------------------------------


class ProviderAlreadyInstalled(ConfigError):
    """An install names a provider that is already supervised (gRPC ALREADY_EXISTS, REST 409)."""

    code = "PROVIDER_ALREADY_INSTALLED"


class NotImplementedByServer(TimeBaseError):
    """The server was built without this feature, e.g. the admin API without a supervisor
    (gRPC UNIMPLEMENTED, REST 501)."""

    code = "NOT_IMPLEMENTED"
