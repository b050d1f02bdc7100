"""Errors on the provider wire: `ErrorKind` ↔ gRPC status, in exactly one place.

The SDK's server answers a provider's `TimeBaseError` with `to_rpc_status` (anything else becomes
INTERNAL with a short message; the traceback is logged server-side, never sent). The gateway's
provider client reads a failed call back into a kind with `kind_of_status`.

A `TimeBaseError` answer also carries a rich `google.rpc.Status` in the trailing metadata, as
grpcio-status encodes it: a rate-limited answer a `google.rpc.RetryInfo` detail (first), and every
answer a `google.rpc.ErrorInfo` detail whose `reason` is the error's `code` and whose `metadata`
holds its scalar `details` (e.g. ``{"symbol": "AAPL"}`` when a symbol is not served). The gateway
reads them with `retry_after_from_metadata` and `error_info_from_metadata`, so nothing matches on
message text. Both are optional on the wire: a provider built on an older SDK sends neither.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from timebase.sdk.errors import ErrorKind, TimeBaseError

#: Trailing-metadata key of the rich status (google.rpc.Status) that grpcio-status uses.
STATUS_DETAILS_KEY = "grpc-status-details-bin"
#: `google.rpc.ErrorInfo.domain` of TimeBase's errors.
ERROR_DOMAIN = "timebase"

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


@dataclass(frozen=True)
class ErrorInfo:
    """A provider's `google.rpc.ErrorInfo`: its error `code` (the reason) and scalar details."""

    reason: str
    metadata: Mapping[str, str]


def to_rpc_status(exc: BaseException) -> RpcStatus:
    """The gRPC status for `exc`: a RetryInfo detail when rate limited, an ErrorInfo detail
    for every `TimeBaseError`."""
    if not isinstance(exc, TimeBaseError):
        return RpcStatus(
            grpc.StatusCode.INTERNAL, f"internal provider error ({type(exc).__name__})"
        )
    return RpcStatus(GRPC_STATUS[exc.kind], exc.message, status_metadata(exc))


def status_metadata(exc: TimeBaseError) -> tuple[tuple[str, bytes], ...]:
    """The trailing metadata of `exc`'s status: the rich `google.rpc.Status` with a RetryInfo
    detail when the error says when to retry (rate limited, the database coming back; first)
    and an ErrorInfo detail (the gateway's gRPC door sends
    the same)."""
    details = []
    retry_after = getattr(exc, "retry_after", None)  # rate limited, busy, database coming back
    if isinstance(retry_after, int | float):
        details.append(_retry_info(float(retry_after)))
    details.append(_error_info(exc))
    return _status_metadata(GRPC_STATUS[exc.kind], exc.message, details)


def retry_info_metadata(message: str, retry_after: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata of a RESOURCE_EXHAUSTED error saying when to retry: a rich
    `google.rpc.Status` with a `google.rpc.RetryInfo` detail, as grpcio-status encodes it."""
    return _status_metadata(grpc.StatusCode.RESOURCE_EXHAUSTED, message, [_retry_info(retry_after)])


def _status_metadata(
    code: grpc.StatusCode, message: str, details: list[any_pb2.Any]
) -> tuple[tuple[str, bytes], ...]:
    number = code.value[0]
    status = status_pb2.Status(code=number, message=message, details=details)
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def _retry_info(retry_after: float) -> any_pb2.Any:
    seconds = max(0.0, retry_after)
    whole = math.floor(seconds)
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    return detail


def _error_info(exc: TimeBaseError) -> any_pb2.Any:
    metadata = {
        str(key): str(value)
        for key, value in exc.details.items()
        if isinstance(value, str | int | float | bool)
    }
    info = error_details_pb2.ErrorInfo(reason=exc.code, domain=ERROR_DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    return detail


def _status_details(trailing_metadata: Any) -> list[any_pb2.Any]:
    for key, value in trailing_metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return list(status_pb2.Status.FromString(value).details)
    return []


def error_info_from_metadata(trailing_metadata: Any) -> ErrorInfo | None:
    """The ErrorInfo detail in an RPC error's trailing metadata; None when the provider sent
    none (an older SDK)."""
    for detail in _status_details(trailing_metadata):
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return ErrorInfo(info.reason, dict(info.metadata))
    return None


def retry_after_from_metadata(trailing_metadata: Any) -> float | None:
    """The RetryInfo delay (seconds) in an RPC error's trailing metadata, if any.

    Clients call it with ``err.trailing_metadata()`` of a RESOURCE_EXHAUSTED `grpc.aio.AioRpcError`.
    """
    for detail in _status_details(trailing_metadata):
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None
