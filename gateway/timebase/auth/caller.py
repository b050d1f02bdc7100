"""`Caller`: the authenticated identity a door hands to the gateway core, and its `Scope`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from timebase.sdk.errors import PermissionDenied


class Scope(enum.StrEnum):
    """What a key may do; each scope includes the ones before it (admin ⊇ write ⊇ read)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Scope) -> bool:
        return self.rank >= other.rank


_RANKS = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request: the key's name and prefix (None with auth off), its scope, the client
    address and the door it came through ("grpc", "flight", "rest", "websocket", "cli")."""

    scope: Scope
    door: str
    address: str = ""
    key_name: str | None = None
    key_prefix: str | None = None

    @classmethod
    def local(cls, door: str, address: str = "") -> Caller:
        """Auth off (`auth.mode: none`): every caller may do everything."""
        return cls(Scope.ADMIN, door, address)

    @property
    def authenticated(self) -> bool:
        return self.key_name is not None

    def allows(self, scope: Scope) -> bool:
        return self.scope.includes(scope)

    def require(self, scope: Scope, action: str) -> None:
        """Raise `PermissionDenied` naming `scope` unless this caller has it."""
        if not self.allows(scope):
            raise PermissionDenied(
                f"{action} needs the '{scope}' scope; key '{self.key_name}' has '{self.scope}'",
                required_scope=str(scope),
                key_scope=str(self.scope),
                action=action,
            )
