"""Who is calling a gRPC method: the `Caller` the core authorizes writes and admin actions for."""

from __future__ import annotations

from typing import Any

import grpc
from timebase.auth import Caller

DOOR = "grpc"


def caller_of(context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
    """The caller of this RPC (auth off: a local caller with every scope)."""
    return Caller.local(DOOR, context.peer() or "")
