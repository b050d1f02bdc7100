"""The Flight door's request metrics: a pyarrow server middleware timing every call.

One observation per call into the shared `RequestObserver`, labelled `flight`, the call's name
and its outcome (`OK` or the Flight error's class name).
"""

from __future__ import annotations

import time
from typing import Any

from pyarrow import flight

from timebase.gateway.request_metrics import RequestObserver


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
        status = "OK" if exception is None else type(exception).__name__
        self.observer.observe(
            "flight", self.route, "RPC", status, time.perf_counter() - self.started
        )
