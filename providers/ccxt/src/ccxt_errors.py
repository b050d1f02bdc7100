"""ccxt's exceptions -> the TimeBase contract's errors (`timebase.sdk.errors`).

=========================================================  ===================================
ccxt                                                       TimeBase (gRPC status)
=========================================================  ===================================
BadSymbol (unknown market)                                 SymbolNotFound (NOT_FOUND)
RateLimitExceeded, DDoSProtection                          RateLimited (RESOURCE_EXHAUSTED,
                                                           retry after Retry-After or 60 s)
AuthenticationError, PermissionDenied, AccountSuspended    AuthFailed (UNAUTHENTICATED)
NotSupported                                               NotSupported (UNIMPLEMENTED)
BadRequest, ArgumentsRequired                              InvalidArgument (INVALID_ARGUMENT)
NetworkError (ExchangeNotAvailable, OnMaintenance,         UpstreamUnavailable (UNAVAILABLE)
RequestTimeout, …), OperationFailed (an exchange-side
failure), BadResponse, any other ccxt error
=========================================================  ===================================
"""

from __future__ import annotations

from collections.abc import Mapping

import ccxt

from timebase.sdk import (
    AuthFailed,
    InvalidArgument,
    NotSupported,
    RateLimited,
    SymbolNotFound,
    TimeBaseError,
    UpstreamUnavailable,
)

#: Seconds to wait after an exchange's rate limit answer without a Retry-After header.
RATE_LIMIT_RETRY_AFTER = 60.0


def retry_after(headers: Mapping[str, str] | None) -> float:
    """The Retry-After header in seconds (exchanges send seconds), else the default."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                break
            if seconds > 0:
                return seconds
    return RATE_LIMIT_RETRY_AFTER


def map_error(
    exc: BaseException, exchange: str, what: str, headers: Mapping[str, str] | None = None
) -> TimeBaseError:
    """The TimeBase error for a ccxt failure of `exchange` while fetching `what` (a symbol)."""
    if isinstance(exc, TimeBaseError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, ccxt.BadSymbol):
        return SymbolNotFound(f"{exchange} has no spot market {what}")
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimited(f"{exchange} rate limit ({name})", retry_after(headers))
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthFailed(f"{exchange} refused the request ({name})")
    if isinstance(exc, ccxt.NotSupported):
        return NotSupported(f"{exchange} does not support this through ccxt ({name})")
    if isinstance(exc, ccxt.BadRequest | ccxt.ArgumentsRequired):
        return InvalidArgument(f"{exchange} rejected the request for {what} ({name})")
    if isinstance(exc, ccxt.NetworkError) or type(exc) is ccxt.OperationFailed:
        return UpstreamUnavailable(f"{exchange} unreachable or unavailable ({name})")
    if isinstance(exc, ccxt.BaseError):
        return UpstreamUnavailable(f"{exchange} answered unexpectedly ({name})")
    return UpstreamUnavailable(f"ccxt failed on {exchange} ({name})")
