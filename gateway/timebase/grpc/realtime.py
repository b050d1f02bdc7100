"""`StreamRealTimeData` on the gateway: the gRPC adaptation of the real-time hub.

The hub (`timebase.gateway.realtime.RealtimeHub`) is protocol-neutral: it takes a client's
controls and yields bars and warnings, and raises a `TimeBaseError` when it ends the stream. Here
that error ends the RPC with the status of its kind and its message (`timebase.grpc.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import grpc
from timebase.grpc.errors import rpc_error
from timebase.provider import provider_pb2 as pb
from timebase.sdk.errors import TimeBaseError


class RealtimeHandler(Protocol):
    """The real-time hub (`timebase.gateway.realtime.RealtimeHub`) as the servicer calls it."""

    def stream(
        self, requests: AsyncIterator[pb.StreamControl]
    ) -> AsyncIterator[pb.TimeSeriesData]: ...


async def stream_realtime(
    hub: RealtimeHandler,
    requests: AsyncIterator[pb.StreamControl],
    context: grpc.aio.ServicerContext[Any, Any],
) -> AsyncIterator[pb.TimeSeriesData]:
    """One `StreamRealTimeData` call served by `hub` (an async generator for the servicer)."""
    try:
        async for message in hub.stream(requests):
            yield message
    except TimeBaseError as exc:
        error = rpc_error(exc)
        await context.abort(error.code, error.message, trailing_metadata=error.trailing_metadata)
