"""The Flight door's request metrics: a pyarrow server middleware timing every call.

One observation per call into the shared `RequestObserver`, labelled `flight`, the call's name
and its outcome: `OK` or the gRPC status name the client received (`INVALID_ARGUMENT`,
`NOT_FOUND`, `UNAUTHENTICATED`, ...), as on the gRPC door.
"""

from __future__ import annotations

import time
from typing import Any

from pyarrow import flight

from timebase.flight.refusal import InvalidArgument, NotFound, Unimplemented
from timebase.gateway.request_metrics import RequestObserver

#: The gRPC status each error a Flight call ends with is sent as (anything else: UNKNOWN).
GRPC_STATUS: tuple[tuple[type[BaseException], str], ...] = (
    (InvalidArgument, "INVALID_ARGUMENT"),
    (NotFound, "NOT_FOUND"),
    (Unimplemented, "UNIMPLEMENTED"),
    (flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (flight.FlightUnavailableError, "UNAVAILABLE"),
    (flight.FlightCancelledError, "CANCELLED"),
    (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
    (flight.FlightInternalError, "INTERNAL"),
)


def status_of(exception: BaseException | None) -> str:
    """`OK`, or the gRPC status name of the error a call ended with."""
    if exception is None:
        return "OK"
    return next((name for cls, name in GRPC_STATUS if isinstance(exception, cls)), "UNKNOWN")


class FlightMetricsFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """pyarrow Flight middleware timing every call (DoGet until its stream ends)."""

    def __init__(self, observer: RequestObserver) -> None:
        super().__init__()
        self.observer = observer

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> Any:
        return _FlightCall(self.observer, str(info.method).rsplit(".", 1)[-1])


class _FlightCall(flight.ServerMiddleware):  # type: ignore[misc]
    def __init__(self, observer: RequestObserver, route: str) -> None:
        super().__init__()
        self.observer = observer
        self.route = route
        self.started = time.perf_counter()

    def call_completed(self, exception: BaseException | None) -> None:
        self.observer.observe(
            "flight", self.route, "RPC", status_of(exception), time.perf_counter() - self.started
        )
