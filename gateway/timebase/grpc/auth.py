"""Who is calling a gRPC method: `authenticate_call` and `caller_of`.

Every call (metadata `authorization: Bearer <key>`) is authenticated through the one
`Authenticator` before its handler runs (`authenticate_call`, in the wrapper
`timebase.grpc.handlers` puts around every method), except health checks and server reflection,
which stay open. A missing or wrong key ends the call UNAUTHENTICATED, too many wrong keys from
one address RESOURCE_EXHAUSTED; the authenticated `Caller` is what `caller_of(context)` returns
inside the handler (the core authorizes writes and admin actions for it).
"""

from __future__ import annotations

import contextvars
from typing import Any

import grpc
from timebase.auth import Caller
from timebase.auth.authenticator import Authenticator
from timebase.grpc.errors import abort_with
from timebase.sdk.errors import TimeBaseError, Unauthenticated

DOOR = "grpc"
#: Methods anyone may call: standard health checks and server reflection.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "timebase_grpc_caller", default=None
)


def caller_of(context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
    """The caller of this RPC, as authenticated by `authenticate_call` (auth off: a local
    caller with every scope). Outside an authenticated call it refuses (fails closed)."""
    caller = _CALLER.get()
    if caller is None:
        raise Unauthenticated("this call was not authenticated")
    return caller


def _authorization(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


async def authenticate_call(
    authenticator: Authenticator, method: str, context: grpc.aio.ServicerContext[Any, Any]
) -> None:
    """Authenticate the call of `method` before its handler runs (`timebase.grpc.handlers`): the
    caller `caller_of` returns from here on, or the call ends with the error's status."""
    try:
        caller = await authenticator.authenticate(
            _authorization(context), context.peer() or "", DOOR
        )
    except TimeBaseError as exc:
        await abort_with(context, exc, method)
    _CALLER.set(caller)
