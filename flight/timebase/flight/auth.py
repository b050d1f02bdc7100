"""Who is calling a Flight method: the authentication middleware and `caller_of`.

pyarrow hands a server middleware the call's headers but not the client's address, so
`FlightAuthFactory` keeps the `authorization` header of each call and `caller_of(context)`
authenticates it (with `context.peer()`, for the per-address failure limit) through the one
`Authenticator`, once per call. Every Flight method of `FlightService` calls it first: a missing
or wrong key is a FlightUnauthenticatedError (gRPC UNAUTHENTICATED), a key without the needed
scope a FlightUnauthorizedError (PERMISSION_DENIED).
"""

from __future__ import annotations

from typing import Any

from pyarrow import flight

from timebase.auth import Caller
from timebase.auth.authenticator import Authenticator
from timebase.sdk.errors import Unauthenticated

DOOR = "flight"
#: The middleware's key in `FlightServerBase(middleware=...)`.
MIDDLEWARE_KEY = "auth"


class FlightAuthFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    def __init__(self, authenticator: Authenticator) -> None:
        super().__init__()
        self.authenticator = authenticator

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> Any:
        values = next((v for k, v in headers.items() if k.lower() == "authorization"), [])
        return FlightAuthCall(self.authenticator, values[0] if values else None)


class FlightAuthCall(flight.ServerMiddleware):  # type: ignore[misc]
    """One call's `authorization` header and, once authenticated, its caller."""

    def __init__(self, authenticator: Authenticator, authorization: str | None) -> None:
        super().__init__()
        self.authenticator = authenticator
        self.authorization = authorization
        self.caller: Caller | None = None

    def authenticate(self, peer: str) -> Caller:
        if self.caller is None:
            self.caller = self.authenticator.authenticate_from_thread(
                self.authorization, peer, DOOR
            )
        return self.caller


def caller_of(context: flight.ServerCallContext) -> Caller:
    """The caller of this Flight call, authenticated on first use (raises Unauthenticated or
    ClientRateLimited); fails closed when the server has no authentication middleware."""
    call = context.get_middleware(MIDDLEWARE_KEY)
    if not isinstance(call, FlightAuthCall):
        raise Unauthenticated("this call was not authenticated")
    return call.authenticate(context.peer() or "")
