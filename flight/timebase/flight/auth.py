"""Who is calling a Flight method: the `Caller` the core authorizes writes for."""

from __future__ import annotations

from pyarrow import flight

from timebase.auth import Caller

DOOR = "flight"


def caller_of(context: flight.ServerCallContext) -> Caller:
    """The caller of this Flight call (auth off: a local caller with every scope)."""
    return Caller.local(DOOR, context.peer() or "")
