"""Who is asking, and what they may do: API keys, scopes and the one policy behind every door.

Doors authenticate a request into a `Caller` (`Caller.local(...)` when auth is off); the gateway
core authorizes each write and admin action with `caller.require(scope, action)`, so the same
policy holds for gRPC, Flight, REST and WebSocket.
"""

from timebase.auth.caller import Caller, Scope

__all__ = ["Caller", "Scope"]
