"""The gRPC error boundary: every error leaving a gRPC handler goes through `abort_with`.

`TimeBaseError`s map to status codes by class; their messages are deliberate and go to the
client. Anything else is logged with its traceback and answered INTERNAL with the request's
correlation id only (no stack traces to clients).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from timebase.core.errors import (
    DatabaseError,
    InvalidRequestError,
    ProviderNotFound,
    ProviderUnavailable,
    RateLimitedError,
    SymbolNotFound,
    TimeBaseError,
)
from timebase.core.logs import correlation_id
from timebase.sdk.errors import STATUS_DETAILS_KEY

_log = logging.getLogger(__name__)

_CODES: Sequence[tuple[type[TimeBaseError], grpc.StatusCode]] = (
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (ProviderNotFound, grpc.StatusCode.NOT_FOUND),
    (SymbolNotFound, grpc.StatusCode.NOT_FOUND),
    (RateLimitedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ProviderUnavailable, grpc.StatusCode.UNAVAILABLE),
    (DatabaseError, grpc.StatusCode.UNAVAILABLE),
)

Metadata = tuple[tuple[str, str | bytes], ...]


@dataclass(frozen=True)
class RpcError:
    code: grpc.StatusCode
    message: str
    trailing_metadata: Metadata = ()


def rpc_error(exc: BaseException) -> RpcError:
    """The status a client gets for `exc`."""
    if not isinstance(exc, TimeBaseError):
        cid = correlation_id()
        return RpcError(
            grpc.StatusCode.INTERNAL,
            "internal error" + (f" (correlation id {cid})" if cid else ""),
        )
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), grpc.StatusCode.INTERNAL)
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        seconds = max(0.0, exc.retry_after)
        whole = math.floor(seconds)
        info = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        status = status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED, message=exc.message, details=[detail]
        )
        return RpcError(code, exc.message, ((STATUS_DETAILS_KEY, status.SerializeToString()),))
    return RpcError(code, exc.message)


async def abort_with(
    context: grpc.aio.ServicerContext[Any, Any],
    exc: BaseException,
    rpc: str,
    extra_metadata: Metadata = (),
) -> None:
    """Log `exc` as it deserves and end the RPC with its status (raises grpc's AbortError)."""
    if isinstance(exc, TimeBaseError):
        level = logging.INFO if isinstance(exc, InvalidRequestError) else logging.WARNING
        _log.log(level, "%s failed: %s", rpc, exc.message, extra={"code": exc.code})
    else:
        _log.error("%s failed with an unexpected error", rpc, exc_info=exc)
    error = rpc_error(exc)
    await context.abort(
        error.code, error.message, trailing_metadata=(*error.trailing_metadata, *extra_metadata)
    )
