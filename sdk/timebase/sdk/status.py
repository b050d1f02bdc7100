"""Errors on the provider wire: `ErrorKind` ↔ gRPC status, in exactly one place.

The SDK's server answers a provider's `TimeBaseError` with `to_rpc_status` (anything else becomes
INTERNAL with a short message; the traceback is logged server-side, never sent). The gateway's
provider client reads a failed call back into a kind with `kind_of_status`. A rate-limited
answer carries a `google.rpc.RetryInfo` detail, as grpcio-status encodes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from timebase.sdk.errors import ErrorKind, RateLimited, TimeBaseError

#: Trailing-metadata key of the rich status (google.rpc.Status) that grpcio-status uses.
STATUS_DETAILS_KEY = "grpc-status-details-bin"

#: The gRPC status of each kind.
GRPC_STATUS: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.PERMISSION: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}

#: The kind of a status a provider answered (statuses not listed are INTERNAL).
_KIND_OF_STATUS: dict[grpc.StatusCode, ErrorKind] = {
    **{status: kind for kind, status in GRPC_STATUS.items()},
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorKind.UNAVAILABLE,
    grpc.StatusCode.OUT_OF_RANGE: ErrorKind.INVALID,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorKind.INVALID,
}

#: Statuses worth retrying at the same provider (and that count against its circuit).
_TRANSIENT_STATUSES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
    }
)


def kind_of_status(code: grpc.StatusCode) -> ErrorKind:
    """The kind of error a provider's gRPC status means."""
    return _KIND_OF_STATUS.get(code, ErrorKind.INTERNAL)


def is_transient_status(code: grpc.StatusCode) -> bool:
    """Whether a provider call that failed with `code` may succeed when retried."""
    return code in _TRANSIENT_STATUSES


@dataclass(frozen=True)
class RpcStatus:
    """What the server sends for an error: code, message and trailing metadata."""

    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


def to_rpc_status(exc: BaseException) -> RpcStatus:
    """The gRPC status for `exc`; RateLimited carries a google.rpc.RetryInfo detail."""
    if not isinstance(exc, TimeBaseError):
        return RpcStatus(
            grpc.StatusCode.INTERNAL, f"internal provider error ({type(exc).__name__})"
        )
    code = GRPC_STATUS[exc.kind]
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
