"""The gRPC door's request metrics: every call timed (streams until their last message).

`timebase.grpc.handlers` wraps each method to time it; `record_call` makes one observation per
call into the shared `RequestObserver`, labelled `grpc`, the full method name and the final
status (a gRPC status name such as `OK` or `INVALID_ARGUMENT`).
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from timebase.gateway.request_metrics import RequestObserver


def record_call(
    observer: RequestObserver,
    route: str,
    context: grpc.aio.ServicerContext[Any, Any],
    failed: BaseException | None,
    started: float,
) -> None:
    """Record one finished call of `route` (started at `perf_counter()` `started`): its final
    status (the one the handler set or aborted with; else OK, or how it failed) and duration."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        status = code.name
    elif failed is None:
        status = "OK"
    else:
        status = "CANCELLED" if isinstance(failed, GeneratorExit) else "UNKNOWN"
    observer.observe("grpc", route, "RPC", status, time.perf_counter() - started)
