"""Who is calling a gRPC method: the authentication interceptor and `caller_of`.

`GrpcAuthInterceptor` authenticates every call (metadata `authorization: Bearer <key>`) through
the one `Authenticator` before its handler runs, except health checks and server reflection,
which stay open. A missing or wrong key ends the call UNAUTHENTICATED, too many wrong keys from
one address RESOURCE_EXHAUSTED; the authenticated `Caller` is what `caller_of(context)` returns
inside the handler (the core authorizes writes and admin actions for it).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
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
    """The caller of this RPC, as authenticated by `GrpcAuthInterceptor` (auth off: a local
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


class GrpcAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates every call but health and reflection; see the module docstring."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        wrap: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary), **wrap
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream), **wrap
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary), **wrap
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(method, handler.stream_stream), **wrap
            )
        return handler  # pragma: no cover - every handler has one of the four shapes

    async def _authenticate(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        try:
            caller = await self.authenticator.authenticate(
                _authorization(context), context.peer() or "", DOOR
            )
        except TimeBaseError as exc:
            await abort_with(context, exc, method)
        _CALLER.set(caller)

    def _unary(self, method: str, behaviour: Any) -> Any:
        async def authenticated(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await self._authenticate(method, context)
            return await behaviour(request, context)

        return authenticated

    def _stream(self, method: str, behaviour: Any) -> Any:
        async def authenticated(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await self._authenticate(method, context)
            async for message in behaviour(request, context):
                yield message

        return authenticated
