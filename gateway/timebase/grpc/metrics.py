"""The gRPC door's request metrics: a server interceptor timing every call.

One observation per call into the shared `RequestObserver`, labelled `grpc`, the full method name
and the final status (a gRPC status name such as `OK` or `INVALID_ARGUMENT`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from timebase.gateway.request_metrics import RequestObserver


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Times every gRPC call (streams until their last message) and records its status."""

    def __init__(self, observer: RequestObserver) -> None:
        self.observer = observer

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        route = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(route, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(route, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(route, handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client streaming: none of TimeBase's RPCs

    def _unary(self, route: str, behaviour: Any) -> Any:
        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            failed: BaseException | None = None
            try:
                return await behaviour(request, context)
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._record(route, context, failed, started)

        return observed

    def _stream(self, route: str, behaviour: Any) -> Any:
        async def observed(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            failed: BaseException | None = None
            try:
                async for message in behaviour(request, context):
                    yield message
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._record(route, context, failed, started)

        return observed

    def _record(
        self,
        route: str,
        context: grpc.aio.ServicerContext[Any, Any],
        failed: BaseException | None,
        started: float,
    ) -> None:
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            status = code.name
        elif failed is None:
            status = "OK"
        else:
            status = "CANCELLED" if isinstance(failed, GeneratorExit) else "UNKNOWN"
        self.observer.observe("grpc", route, "RPC", status, time.perf_counter() - started)
