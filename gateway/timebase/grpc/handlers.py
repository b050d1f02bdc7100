"""The gateway's gRPC method handlers, each wrapped once when the server starts.

    registrations = Registrations()
    v1_grpc.add_GatewayServiceServicer_to_server(servicer, registrations)   # any generated adder
    registrations.register(server, observer=metrics, authenticator=authenticator)

Every method handler is wrapped in one layer that times the call for the request metrics
(`timebase.grpc.metrics`) and, except for health checks and server reflection, authenticates it
first (`timebase.grpc.auth`). The wrapping is built once per method, not per call (grpc.aio
server interceptors run their coroutines and build new handlers on every call, and add one more
async generator per message of a stream: docs/profiles.md). A handler may also answer with
messages it serialized already (bytes, `timebase.grpc.rendered`): they are sent as they are.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeAlias

import grpc
from timebase.auth.authenticator import Authenticator
from timebase.gateway.request_metrics import RequestObserver
from timebase.grpc.auth import OPEN_PREFIXES, authenticate_call
from timebase.grpc.metrics import record_call

Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class Registrations:
    """Stands in for the server while generated `add_*Servicer_to_server` functions register
    their services: keeps each service's method handlers for `register`."""

    def __init__(self) -> None:
        #: Method handlers by service name, then method name.
        self.services: dict[str, dict[str, Handler]] = {}
        self._generic = 0

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        # The generated adders register the same handlers again by name just after this.
        self._generic += 1

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self.services[service] = dict(handlers)

    def register(
        self,
        server: grpc.aio.Server,
        *,
        observer: RequestObserver | None,
        authenticator: Authenticator,
    ) -> None:
        """Add every collected service to `server`, each method wrapped (see module doc)."""
        if self._generic != len(self.services):
            raise RuntimeError(
                "a service was registered without its method handlers by name "
                "(add_registered_method_handlers): regenerate its gRPC code"
            )
        for service, handlers in self.services.items():
            wrapped = {
                name: wrap_handler(f"/{service}/{name}", handler, observer, authenticator)
                for name, handler in handlers.items()
            }
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, wrapped),)
            )
            # grpc-stubs predates registered methods (the faster lookup), hence the ignore.
            server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]


def wrap_handler(
    route: str,
    handler: Handler,
    observer: RequestObserver | None,
    authenticator: Authenticator,
) -> Handler:
    """`handler` timed into `observer` (None: not timed) and, unless `route` is open,
    authenticated by `authenticator` before its behaviour runs."""
    auth = None if route.startswith(OPEN_PREFIXES) else authenticator
    serializers: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": _passing_bytes(handler.response_serializer),
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary(route, handler.unary_unary, observer, auth), **serializers
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _streamed(route, handler.unary_stream, observer, auth), **serializers
        )
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _unary(route, handler.stream_unary, observer, auth), **serializers
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            _streamed(route, handler.stream_stream, observer, auth), **serializers
        )
    return handler  # pragma: no cover - every handler has one of the four shapes


def _passing_bytes(serialize: Any) -> Any:
    """`serialize`, except that a message already serialized (bytes: `timebase.grpc.rendered`)
    is sent as it is."""
    if serialize is None:
        return None

    def serialized(message: Any) -> bytes:
        if type(message) is bytes:
            return message
        out: bytes = serialize(message)
        return out

    return serialized


def _streamed(
    route: str,
    behaviour: Any,
    observer: RequestObserver | None,
    auth: Authenticator | None,
) -> Any:
    """A streaming behaviour: an async generator yields its messages; a coroutine writes them
    with `context.write` (grpc.aio tells the two apart by the function's kind, so the wrapper
    is of the same kind)."""
    if inspect.isasyncgenfunction(behaviour):
        return _stream(route, behaviour, observer, auth)
    return _unary(route, behaviour, observer, auth)


def _unary(
    route: str,
    behaviour: Any,
    observer: RequestObserver | None,
    auth: Authenticator | None,
) -> Callable[[Any, Context], Any]:
    async def handle(request: Any, context: Context) -> Any:
        started = time.perf_counter()
        failed: BaseException | None = None
        try:
            if auth is not None:
                await authenticate_call(auth, route, context)
            return await behaviour(request, context)
        except BaseException as exc:
            failed = exc
            raise
        finally:
            if observer is not None:
                record_call(observer, route, context, failed, started)

    return handle


def _stream(
    route: str,
    behaviour: Any,
    observer: RequestObserver | None,
    auth: Authenticator | None,
) -> Callable[[Any, Context], AsyncIterator[Any]]:
    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        started = time.perf_counter()
        failed: BaseException | None = None
        try:
            if auth is not None:
                await authenticate_call(auth, route, context)
            async for message in behaviour(request, context):
                yield message
        except BaseException as exc:
            failed = exc
            raise
        finally:
            if observer is not None:
                record_call(observer, route, context, failed, started)

    return handle
