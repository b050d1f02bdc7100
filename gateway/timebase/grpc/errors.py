"""The gRPC error boundary: every error leaving a gRPC handler goes through `abort_with`.

A `TimeBaseError` ends the RPC with the status of its `kind` (`timebase.sdk.status.GRPC_STATUS`,
the one kind → gRPC status table, shared with the provider wire) and its message, which is
deliberate and goes to the client; the trailing metadata carries the rich status
(`timebase.sdk.status.status_metadata`: RetryInfo when rate limited, ErrorInfo with the error's
code and details), so clients never read the message. Anything else is logged with its traceback and answered
INTERNAL with the request's correlation id only (no stack traces to clients).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from timebase.sdk.errors import ErrorKind, TimeBaseError
from timebase.sdk.logs import correlation_id
from timebase.sdk.status import GRPC_STATUS, status_metadata

_log = logging.getLogger(__name__)

Metadata = tuple[tuple[str, str | bytes], ...]

#: Trailing metadata of an error that says when to try again: whole seconds, like REST's header.
RETRY_AFTER_METADATA_KEY = "retry-after"


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
    metadata: Metadata = status_metadata(exc)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # also plainly, as REST's Retry-After header (whole seconds)
        metadata = (*metadata, (RETRY_AFTER_METADATA_KEY, str(max(1, math.ceil(retry_after)))))
    return RpcError(GRPC_STATUS[exc.kind], exc.message, metadata)


async def abort_with(
    context: grpc.aio.ServicerContext[Any, Any],
    exc: BaseException,
    rpc: str,
    extra_metadata: Metadata = (),
) -> NoReturn:
    """Log `exc` as it deserves and end the RPC with its status (raises grpc's AbortError)."""
    if isinstance(exc, TimeBaseError):
        level = logging.INFO if exc.kind is ErrorKind.INVALID else logging.WARNING
        _log.log(level, "%s failed: %s", rpc, exc.message, extra={"code": exc.code})
    else:
        _log.error("%s failed with an unexpected error", rpc, exc_info=exc)
    error = rpc_error(exc)
    await context.abort(
        error.code, error.message, trailing_metadata=(*error.trailing_metadata, *extra_metadata)
    )
    raise AssertionError("context.abort() returned")  # pragma: no cover
