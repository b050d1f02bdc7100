"""Provider errors and their gRPC status codes (mapped in exactly one place: `to_rpc_status`).

A provider raises these from its code; the SDK turns them into the gRPC status the gateway
understands. Anything else becomes INTERNAL with a short message (the traceback is logged
server-side, never sent to the client).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from timebase.core.errors import TimeBaseError

#: Trailing-metadata key of the rich status (google.rpc.Status) that grpcio-status uses.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class ProviderError(TimeBaseError):
    """Base of the errors a provider raises on purpose."""

    code: ClassVar[str] = "PROVIDER_ERROR"
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    #: Whether retrying the same request later may succeed (used by `timebase.sdk.retry`).
    transient: ClassVar[bool] = False


class SymbolNotFound(ProviderError):
    """The upstream does not know the symbol (or has no data for it at all)."""

    code = "SYMBOL_NOT_FOUND"
    grpc_code = grpc.StatusCode.NOT_FOUND


class RateLimited(ProviderError):
    """The upstream refused for quota reasons; `retry_after` seconds is when to try again."""

    code = "RATE_LIMITED"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    transient = True

    def __init__(
        self,
        message: str = "rate limited by upstream",
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class AuthFailed(ProviderError):
    """The upstream rejected the provider's credentials."""

    code = "AUTH_FAILED"
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class UpstreamUnavailable(ProviderError):
    """The upstream is down, timed out or answered garbage: try again later."""

    code = "UPSTREAM_UNAVAILABLE"
    grpc_code = grpc.StatusCode.UNAVAILABLE
    transient = True


class InvalidArgument(ProviderError):
    """The request is malformed (raised by the SDK's checks, or by an author for its own)."""

    code = "INVALID_ARGUMENT"
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class NotSupported(ProviderError):
    """The provider does not offer this operation (e.g. real-time streaming)."""

    code = "NOT_SUPPORTED"
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


@dataclass(frozen=True)
class RpcStatus:
    """What the server sends for an error: code, message and trailing metadata."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


def to_rpc_status(exc: BaseException) -> RpcStatus:
    """The gRPC status for `exc`; RateLimited carries a google.rpc.RetryInfo detail."""
    if not isinstance(exc, ProviderError):
        return RpcStatus(
            grpc.StatusCode.INTERNAL, f"internal provider error ({type(exc).__name__})"
        )
    code = exc.grpc_code
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return RpcStatus(code, exc.message, retry_info_metadata(exc.message, exc.retry_after))
    return RpcStatus(code, exc.message)


def retry_info_metadata(message: str, retry_after: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata of a RESOURCE_EXHAUSTED error saying when to retry: a rich
    `google.rpc.Status` with a `google.rpc.RetryInfo` detail, as grpcio-status encodes it."""
    seconds = max(0.0, retry_after)
    whole = math.floor(seconds)
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def retry_after_from_metadata(trailing_metadata: Any) -> float | None:
    """The RetryInfo delay (seconds) in an RPC error's trailing metadata, if any.

    Clients call it with ``err.trailing_metadata()`` of a RESOURCE_EXHAUSTED `grpc.aio.AioRpcError`.
    """
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None
